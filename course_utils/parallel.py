"""Data parallelism on PyTorch's own engine: ``torch.distributed`` DDP over gloo, launched with
``torchrun`` (``python -m torch.distributed.run``), the launcher used on multi-GPU machines.

The notebook calls :func:`ddp_run`, which starts
``torchrun --standalone --nproc-per-node N -m course_utils.parallel …`` as a subprocess, whose
workers run :func:`main` below. Every worker uses one thread: this machine has two cores.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .machinery import machine
from .validation import sizes

__all__ = ["make_model", "make_batch", "single_process_gradients", "ddp_run", "DDPResult",
           "torchrun"]


def make_model(seed: int) -> nn.Module:
    """The small model every process builds identically from ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(),
                         nn.Linear(64, 4))


@sizes("size")
def make_batch(seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded batch: inputs ``(size, 32)`` and labels ``(size,)``."""
    g = torch.Generator().manual_seed(seed + 1)
    return torch.randn(size, 32, generator=g), torch.randint(0, 4, (size,), generator=g)


@sizes("batch")
def single_process_gradients(seed: int, batch: int) -> dict[str, torch.Tensor]:
    """Gradients of the mean loss over the whole batch, in one process."""
    model = make_model(seed)
    x, y = make_batch(seed, batch)
    F.cross_entropy(model(x), y).backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def torchrun(nproc: int, *worker_args: str, timeout: float = 120) -> None:
    """Run ``torchrun --standalone --nproc-per-node nproc -m course_utils.parallel ARGS``."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", "course_utils.parallel", *worker_args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun failed ({done.returncode}):\n{done.stderr[-3000:]}")


@dataclass
class DDPResult:
    """What one DDP launch measured: each process's gradients after the all-reduce, seconds
    per all-reduce of float32 tensors by element count, and the launch's wall time."""

    gradients: list[dict[str, torch.Tensor]]
    allreduce_seconds: dict[int, float]
    launch_seconds: float


@sizes("batch", "world_size", "repeats")
def ddp_run(seed: int, batch: int, world_size: int = 2,
            allreduce_sizes: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000, 4_000_000),
            repeats: int = 7) -> DDPResult:
    """Launch ``world_size`` processes with torchrun. Each takes ``batch / world_size`` examples
    and runs backward through ``DistributedDataParallel``, which averages the gradients across
    processes (all should then equal :func:`single_process_gradients` on the whole batch); then
    they time ``all_reduce`` of float32 tensors of each size (element counts): one untimed pass
    over every size first (buffers and connections are set up there, not in the timings), then
    ``repeats`` calls per size, each after a barrier; the time kept is the fastest call."""
    if batch % world_size:
        raise ValueError(f"batch={batch} must divide evenly among world_size={world_size}")
    out = Path(tempfile.mkdtemp(prefix="course_ddp_"))
    start = time.perf_counter()
    with machine.watched():  # the all-reduce timings are judged on the load during the launch
        torchrun(world_size, "--seed", str(seed), "--batch", str(batch), "--out", str(out),
                 "--sizes", *map(str, allreduce_sizes), "--repeats", str(repeats))
    launch = time.perf_counter() - start
    seconds = {int(k): v for k, v in json.loads((out / "seconds.json").read_text()).items()}
    grads = [torch.load(out / f"grads{r}.pt") for r in range(world_size)]
    return DDPResult(grads, seconds, launch)


# ---- what each torchrun worker runs ---------------------------------------------------------
def _worker(args, rank: int, world_size: int) -> None:
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = DDP(make_model(args.seed))
    x, y = make_batch(args.seed, args.batch)
    shard = slice(rank * args.batch // world_size, (rank + 1) * args.batch // world_size)
    F.cross_entropy(model(x[shard]), y[shard]).backward()  # the all-reduce happens here
    grads = {n.removeprefix("module."): p.grad.detach().clone() for n, p in model.named_parameters()}
    torch.save(grads, Path(args.out) / f"grads{rank}.pt")

    import torch.distributed as dist

    seconds = {}
    for n in args.sizes:  # warm-up: the first call at each size sets up buffers; not timed
        dist.all_reduce(torch.ones(n))
    for n in args.sizes:
        t = torch.ones(n)
        calls = []
        for _ in range(args.repeats):
            dist.barrier()  # both ranks start each call together
            start = time.perf_counter()
            dist.all_reduce(t)
            calls.append(time.perf_counter() - start)
        seconds[n] = min(calls)  # the fastest call: the one least disturbed by other programs
    if rank == 0:
        (Path(args.out) / "seconds.json").write_text(json.dumps(seconds))


def main(argv: list[str] | None = None) -> None:
    import torch.distributed as dist

    parser = argparse.ArgumentParser(prog="torchrun … -m course_utils.parallel")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", required=True)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dist.init_process_group("gloo")  # rank, world size and address come from torchrun's env
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        _worker(args, rank, world)
        dist.barrier()  # every rank has written its results before any tears gloo down
    finally:
        dist.destroy_process_group()
    # Gloo's C++ worker threads can still hold tensors while Python finalises, which aborts the
    # process ("terminate called without an active exception", SIGABRT; about one launch in
    # eight here, with or without the barrier; see pytorch/pytorch#179291). The results are
    # written and synchronised, so leave without running the interpreter's finalisation.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
