import sys

from mixing.sweep.command import main

sys.exit(main())
