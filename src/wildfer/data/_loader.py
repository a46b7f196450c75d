"""torch's DataLoader view of a wildfer dataset (imported by :func:`.datasets.batch_loader` when a
torch dataset is loaded, so that importing the datasets needs no torch)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import WildferError


class BatchView(torch.utils.data.Dataset):
    def __init__(self, ds):
        self.ds = ds

    def __getitem__(self, idx):
        idx = list(idx)
        try:
            return self.ds.load(idx), torch.as_tensor(np.asarray(idx, dtype=np.int64))
        except WildferError as e:
            if torch.utils.data.get_worker_info() is None:
                raise
            return e, None  # handed back from the worker: DataLoader would re-raise it wrapped in a traceback


def reraise(loader):
    for x, idx in loader:
        if isinstance(x, WildferError):
            raise x
        yield x, idx
