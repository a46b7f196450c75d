"""Training: the loop, run folders, losses, optimisers and schedules, distillation, the LR range
test, ablations and comparing runs.

It may import ``models``, ``data``, ``eval`` and the package's low modules (``config``, ``labels``,
``errors``, ``plugins``, ``runinfo``); never the predict rooms (``pipeline``, ``outputs``,
``runners``) or ``serve``.
"""
