"""Data-parallel training under `torchrun` (DDP), and the single-process case as the same code path.

`torchrun --nproc_per_node N -m ric.cli train ...` starts N processes; each one calls `setup()`, which joins
the process group (NCCL on GPUs, gloo on CPUs) and gives every process its rank. The configured batch size
stays the GLOBAL batch: every step all ranks draw the same batch from the same seeded generator and each
trains on its slice `batch[rank::world]`, with DDP averaging the gradients, so N processes train the same
batches as one. Rank 0 alone builds shared files (the NAE bank), evaluates, writes checkpoints and shows
progress; the others wait for it at barriers. Without torchrun (WORLD_SIZE unset) nothing is initialised.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device) -> tuple[DistInfo, torch.device]:
    """Join the torchrun process group when there is one; returns the rank info and this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = torch.device(device)
    if world <= 1:
        return DistInfo(), device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return DistInfo(dist.get_rank(), dist.get_world_size()), device


def wrap(module: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """`module` wrapped for gradient averaging (DDP) when running data-parallel, else itself."""
    if not info.active:
        return module
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def shard(t, info: DistInfo):
    """This rank's slice of a global batch (tensor or array, first dimension)."""
    return t if not info.active else t[info.rank::info.world]


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def broadcast_int(value: int, info: DistInfo, device=None) -> int:
    """Rank 0's value on every rank (device: this rank's device; NCCL needs a GPU tensor)."""
    if not info.active:
        return value
    on = torch.device(device) if device is not None and dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([int(value)], dtype=torch.long, device=on)
    dist.broadcast(t, 0)
    return int(t.item())


def teardown(info: DistInfo) -> None:
    if info.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
