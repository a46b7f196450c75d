"""Data-parallel training in several processes: torch DDP, started by ``torchrun``.

A launch is recognised from the variables ``torchrun`` sets in every process it starts
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``; ``MASTER_ADDR``/``MASTER_PORT`` for the rendezvous);
without them training is one process and nothing here touches ``torch.distributed``. Several
machines need no code change, only the launch: every node runs ``torchrun --nnodes N
--node-rank R --master-addr HOST --master-port P --nproc-per-node G -m wildfer train cfg.yaml``.

How the work is shared, so that a run in ``W`` processes trains what one process would:

* ``batch_size`` is the global batch. Every rank computes the same deterministic plan of the
  epoch (:mod:`wildfer.train.sampling`, from ``(seed, epoch)``) and trains on the contiguous rows
  :func:`rank_rows` of each batch, so the sample order, the checkpoints and ``--resume`` mean what
  they mean in one process. A last batch smaller than ``W`` is left out (a rank without rows has
  no gradient to contribute), as one process leaves out a last batch of 1.
* Each rank divides its summed loss by the normaliser of the whole global batch (see
  :func:`wildfer.train.losses.loss_norm`) and multiplies it by ``W``; DDP averages the gradients
  over the ranks, which makes them the one-process gradient however unevenly rows or classes fall.
* Augmentation is drawn for the whole global batch from the generator every rank seeds alike,
  and each rank applies its rows' draws. Dropout draws per rank (rank 0 as one process does).
* Batch norm normalises with each rank's own rows (``sync_bn``: over the global batch, CUDA
  only); with dropout, that is what still differs from one process, besides float rounding.
* Rank 0 alone writes the run folder, validates and logs; ``--resume`` loads on every rank.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Iterator, Mapping

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError, WildferError

DEVICES = ("auto", "cpu", "cuda")

# Rank 0 validates alone while the other ranks wait in a collective, whose default timeout
# (30 min) a large validation set (Aff-Wild2's ~300 k frames, decode-bound) can come close to.
# A crashed rank does not make the others wait this long: torchrun stops them all.
TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: ``world`` processes, ``rank`` in ``[0, world)``,
    ``local_rank`` on this machine, and the ``device`` it trains on."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world > 1

    def rows(self, n: int) -> slice:
        """This rank's rows of a global batch of ``n``."""
        return rank_rows(n, self.rank, self.world)

    def batches(self, plan: list) -> list:
        """The global batches of ``plan`` that are trained: all but a last one smaller than ``world``."""
        return plan[:-1] if plan and len(plan[-1]) < self.world else plan

    def barrier(self) -> None:
        if self.is_distributed:
            dist.barrier()

    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank (pickled inside the process group, never from a file)."""
        if not self.is_distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_sum(self, value: torch.Tensor) -> float:
        """Sum of a scalar over the ranks."""
        t = value.detach().reshape(1).to(self.device, torch.float64)
        if self.is_distributed:
            dist.all_reduce(t)
        return float(t)

    def all_sum_each(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over the ranks of a 1-D tensor (float64, returned on the CPU)."""
        t = values.detach().to(self.device, torch.float64)
        if self.is_distributed:
            dist.all_reduce(t)
        return t.cpu()

    def check_same(self, value, what: str) -> None:
        """Raise :class:`ConfigError` naming ``what`` unless every rank holds an equal ``value``."""
        if not self.is_distributed:
            return
        seen: list = [None] * self.world
        dist.all_gather_object(seen, value)
        if any(v != seen[0] for v in seen):
            raise ConfigError(f"the {self.world} training processes disagree about {what}: {seen} (rank by rank)")


def rank_rows(n: int, rank: int, world: int) -> slice:
    """Rows ``[start, stop)`` of a batch of ``n`` that ``rank`` of ``world`` trains on: contiguous,
    in rank order, covering the batch once; the first ``n % world`` ranks take one row more."""
    q, r = divmod(n, world)
    start = rank * q + min(rank, r)
    return slice(start, start + q + (1 if rank < r else 0))


def launched(environ: Mapping[str, str] | None = None) -> Ranks:
    """Ranks from torchrun's environment variables; one process (``Ranks()``) when they are absent."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return Ranks()
    try:
        world, rank, local = int(env["WORLD_SIZE"]), int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ConfigError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (they are set by torchrun)") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(f"RANK {rank} / LOCAL_RANK {local} do not fit WORLD_SIZE {world} (they are set by torchrun)")
    return Ranks(world, rank, local)


def resolve_device(setting: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA when torch sees it, else the CPU; with CUDA, process ``local_rank`` of a
    machine takes GPU ``local_rank``."""
    if setting not in DEVICES:
        raise ConfigError(f"device: expected one of {' | '.join(DEVICES)}, got {setting!r}")
    has_cuda = torch.cuda.is_available()
    if setting == "cuda" and not has_cuda:
        raise ConfigError("device: cuda was asked for, but torch sees no CUDA device (use device=cpu or auto)")
    if setting == "cpu" or not has_cuda:
        return torch.device("cpu")
    n = torch.cuda.device_count()
    if local_rank >= n:
        raise ConfigError(f"process with LOCAL_RANK {local_rank} but this machine has {n} CUDA device(s): "
                          f"start at most {n} processes per node")
    return torch.device("cuda", local_rank)


def check_batch(batch_size: int, world: int) -> None:
    if batch_size < world:
        raise ConfigError(f"batch_size {batch_size} is smaller than the {world} training processes: batch_size is "
                          f"the global batch, shared out among them; make it at least {world}")


@contextmanager
def joined(device: str) -> Iterator[Ranks]:
    """This process's :class:`Ranks`, inside torchrun's process group when launched by it (gloo
    on the CPU, nccl on CUDA; left on exit). A group the caller already joined is used as is."""
    ranks = launched()
    ranks = replace(ranks, device=resolve_device(device, ranks.local_rank))
    if not ranks.is_distributed or dist.is_initialized():
        yield ranks
        return
    cuda = ranks.device.type == "cuda"
    if cuda:
        torch.cuda.set_device(ranks.device)
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    try:
        yield ranks
    finally:
        dist.destroy_process_group()


def wrap_model(model: nn.Module, ranks: Ranks, sync_bn: bool = False) -> nn.Module:
    """``model`` (already on ``ranks.device``) as trained: in DDP over several ranks, with batch
    norm over the global batch when ``sync_bn``; itself for one process. Checkpoints are taken
    from ``model``, whose parameters the wrapper shares, so their names carry no ``module.``."""
    if not ranks.is_distributed:
        return model
    if sync_bn:
        if ranks.device.type != "cuda":
            raise ConfigError("sync_bn needs CUDA (torch's SyncBatchNorm has no CPU kernel): set sync_bn=false")
        # convert_sync_batchnorm swaps the modules but keeps their Parameter objects, so the
        # optimiser built on `model` still holds the trained parameters.
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [ranks.device.index] if ranks.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def is_main() -> bool:
    """Whether this process is rank 0 of a torchrun launch, or not launched by torchrun at all."""
    return launched().is_main


def check_launch(batch_size: int, device: str, nproc: int) -> None:
    """What :func:`launch_local` can check before starting ``nproc`` processes (one-line errors)."""
    if launched().is_distributed:
        raise ConfigError("--nproc-per-node starts the processes itself: do not also start wildfer with torchrun")
    check_batch(batch_size, nproc)
    if resolve_device(device).type == "cuda" and nproc > torch.cuda.device_count():
        raise ConfigError(f"--nproc-per-node {nproc} but this machine has {torch.cuda.device_count()} CUDA device(s)")


def launch_local(nproc: int, args: list[str]) -> None:
    """Run ``python -m wildfer <args>`` in ``nproc`` processes on this machine with torch's own
    launcher (what ``torchrun --standalone --nproc-per-node nproc -m wildfer ...`` does; the
    rendezvous takes a free port)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    cmd = get_args_parser().parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", "wildfer", *args])
    try:
        run(cmd)
    except ChildFailedError as e:
        rank, failure = min(e.failures.items())
        raise WildferError(f"{len(e.failures)} of {nproc} training processes failed (first: rank {rank}, "
                           f"exit code {failure.exitcode}); their own messages are above") from None
