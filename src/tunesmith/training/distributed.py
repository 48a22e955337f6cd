"""The distributed engine is torch.distributed: one process per device, started by torchrun.

A plain ``python`` or ``tunesmith train`` is a world of one and needs no process group.
``torchrun --nproc_per_node N -m tunesmith train ...`` starts N processes; each trains on its
share of the windows under DistributedDataParallel, and only rank 0 writes files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError

DEVICE_PATTERN = re.compile(r"(cpu|cuda|mps)(?::(\d+))?")


@dataclass
class DistContext:
    """Who this process is: ``rank`` of ``world_size``, and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this context started the process group, so it ends it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, *values: float) -> list[float]:
        """Sum numbers across processes (identity in a world of one)."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process if ``flag`` is true on any of them."""
        return self.sum(float(flag))[0] > 0


def resolve_device(name: str, *, what: str = "train.device") -> torch.device:
    """The torch device a name stands for, checked against this machine and this PyTorch.

    ``"auto"``: CUDA if available, else CPU. ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``:
    that device, if this PyTorch can use it. ``what`` names the setting in messages
    (``train.device``, ``--device``).

    Raises:
        ConfigError: one line: a name that is not a device (``gpu0``, ``cuda:abc``), or a
            device this PyTorch or machine does not have, with what to use instead.
    """
    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = DEVICE_PATTERN.fullmatch(name)
    if match is None:
        raise ConfigError(f"{what}={name!r} is not a device: use auto, cpu, cuda, cuda:N or mps")
    kind, index = match.group(1), match.group(2)
    if kind == "cuda":
        if not torch.cuda.is_available():
            why = "this PyTorch has no CUDA" if torch.version.cuda is None else "no CUDA device is visible"
            raise ConfigError(f"{what}={name} but {why}: use cpu or auto")
        count = torch.cuda.device_count()
        if index is not None and int(index) >= count:
            raise ConfigError(f"{what}={name} but there are only {count} CUDA device(s): use cuda:0..cuda:{count - 1}")
    if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"{what}={name} but this PyTorch has no MPS (Apple GPU) support here: use cpu or auto")
    return torch.device(name)


def pick_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; otherwise the named device (see :func:`resolve_device`)."""
    return resolve_device(name)


def init_distributed(device_name: str = "auto") -> DistContext:
    """Join the process group that torchrun describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world_size <= 1:
        return DistContext(0, 1, device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns_group = not dist.is_initialized()  # a caller (e.g. an ensemble's members) may share one
    if owns_group:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), device, owns_group)


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()
