"""Learned generators: the associative-recall task, its trainer and the generator files.

- :mod:`~mixing.learned.recall`: the recall task (tokens, the target, the loss and its
  gradient, in numba);
- :mod:`~mixing.learned.train`: Adam on that loss, evaluation, and the command line
  ``python -m mixing.learned``;
- :mod:`~mixing.engine.generators`: the ``.npz`` files of learned, imported or exported
  generators that ``mixing.engine.mechanisms`` reads with ``generators=FILE``.
"""
