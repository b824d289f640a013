from .sweep import main
import sys

sys.exit(main())
