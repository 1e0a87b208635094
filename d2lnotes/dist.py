"""Data-parallel plumbing: which process am I, and the few collectives training needs.

Everything works unchanged in a single process (world size 1), where each function is a no-op,
so the training loop calls them unconditionally. Under ``torchrun`` the processes join one
group (:func:`init_distributed`): NCCL on GPUs, gloo on CPUs, with a timeout on every
collective so that a job whose peer died ends with an error instead of hanging.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import NamedTuple

import torch
import torch.distributed as tdist
from torch import nn


class World(NamedTuple):
    """This process's place in a data-parallel job."""

    rank: int  # 0 .. size-1; process 0 prints and writes files for everyone
    size: int  # number of processes (1 outside torchrun)


def world() -> World:
    """``World(rank, size)``: ``World(0, 1)`` unless torch.distributed is initialized."""
    if tdist.is_available() and tdist.is_initialized():
        return World(tdist.get_rank(), tdist.get_world_size())
    return World(0, 1)


def init_distributed(device_flag: str | None = None) -> World:
    """Join the torchrun job this process belongs to, if any: NCCL on GPUs, gloo on CPUs.

    torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. ``D2LNOTES_DIST_TIMEOUT`` (seconds,
    default 300) bounds every collective.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) == 1 or tdist.is_initialized():
        return world()
    local = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    cuda = torch.cuda.is_available() and not (device_flag or "").startswith("cpu")
    if cuda:
        torch.cuda.set_device(local)
    timeout = dt.timedelta(seconds=float(os.environ.get("D2LNOTES_DIST_TIMEOUT", "300")))
    tdist.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
    return world()


def rank_device(device: torch.device) -> torch.device:
    """Under torchrun each process drives its own GPU (LOCAL_RANK), or shares the CPU."""
    if device.type == "cuda" and world().size > 1:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def wrap(net: nn.Module, device: torch.device) -> nn.Module:
    """``net`` itself, or with several processes a ``DistributedDataParallel`` around it, which
    averages the gradients across processes during ``backward()``."""
    if world().size == 1:
        return net
    return nn.parallel.DistributedDataParallel(
        net, device_ids=[device.index] if device.type == "cuda" else None)


def _collective_device() -> torch.device:
    if tdist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sum_over_processes(*values: torch.Tensor) -> list[torch.Tensor]:
    """All-reduce (sum) a few scalars across processes in one collective."""
    if world().size == 1:
        return list(values)
    stacked = torch.stack([v.double() for v in values])
    tdist.all_reduce(stacked)
    return list(stacked.unbind())


def max_over_processes(value: torch.Tensor) -> torch.Tensor:
    """The largest ``value`` of any process (in place); ``value`` alone in one process."""
    if world().size > 1:
        tdist.all_reduce(value, op=tdist.ReduceOp.MAX)
    return value


def agree_to_stop(should_stop, step: int, every: int = 10) -> bool:
    """Ask ``should_stop()``; with several processes, agree on the answer every ``every`` steps.

    One process alone must not stop (the others would wait for it forever), so they compare
    their stop requests and stop together.
    """
    if world().size == 1:
        return bool(should_stop())
    if (step + 1) % every:
        return False
    flag = torch.tensor(float(bool(should_stop())), device=_collective_device())
    tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
    return bool(flag.item())


def barrier() -> None:
    """Wait until every process gets here (before process 0 writes what the others read)."""
    if world().size > 1:
        tdist.barrier()


def from_rank0(value):
    """``value`` as process 0 has it (all processes must agree on folders and outcomes)."""
    if world().size == 1:
        return value
    box = [value]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value) -> list:
    """Every process's ``value`` (any picklable object), in rank order."""
    if world().size == 1:
        return [value]
    values = [None] * world().size
    tdist.all_gather_object(values, value)
    return values


def destroy() -> None:
    """Leave the job's process group, if this process joined one."""
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()
