"""Process-group helpers: the same loop runs alone or under `torchrun --nproc_per_node N`.

Under torchrun (WORLD_SIZE > 1) each process takes `batch_size / world` sequences of every
global batch, DistributedDataParallel averages gradients, and only rank 0 writes files. The
backend is NCCL on CUDA and gloo on CPU (the tests run 2 CPU processes with gloo).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from tilelli.errors import TilelliError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TilelliError(f"device={name!r} but CUDA is not available; use device=cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise TilelliError(f"device={name!r}: expected auto, cpu or cuda[:N]")
    return torch.device(name)


def init(device: torch.device) -> tuple[Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    return Dist(rank, world, local), device


def all_mean(value: float, dist: Dist) -> float:
    if dist.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    torch_dist.all_reduce(t)
    return t.item() / dist.world


def barrier(dist: Dist) -> None:
    if dist.world > 1:
        torch_dist.barrier()
