"""``python -m wildfer``: the ``wildfer`` command; what ``torchrun ... -m wildfer train cfg.yaml``
starts in every process."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
