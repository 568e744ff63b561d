"""joule.framework: Zeus's ``zeus.utils.framework`` helpers.

``sync_execution(gpu_devices, sync_with="torch")`` waits for the work
queued on those GPUs; ``all_reduce(values, operation)`` sums or maxes a
list across the ranks of an initialised ``torch.distributed`` process
group (returned as is when there is none). Neither imports a framework
that the program has not imported or asked for.
"""

import importlib
import sys

from . import sync as _sync

__all__ = ["sync_execution", "all_reduce", "is_distributed", "get_rank",
           "get_world_size"]


def sync_execution(gpu_devices, sync_with="torch"):
    """Blocks until the work queued on ``gpu_devices`` (CUDA-visible
    indices) is done, with ``sync_with`` = "torch", "jax" or "cupy".
    Raises RuntimeError when that framework cannot be imported, as Zeus
    does ("No framework is available.")."""
    if sync_with not in _sync.FRAMEWORKS:
        raise ValueError("joule: sync_with must be one of %s, not %r"
                         % (", ".join(_sync.FRAMEWORKS), sync_with))
    try:
        mod = importlib.import_module(sync_with)
    except ImportError as e:
        raise RuntimeError("No framework is available: %s cannot be "
                           "imported (%s)" % (sync_with, e)) from e
    _sync._SYNCS[sync_with](mod, [int(i) for i in gpu_devices])


def _dist():
    # No process group can exist before torch is imported: never import it.
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = getattr(torch, "distributed", None)
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return dist
    except Exception:  # a partial torch build
        return None
    return None


def is_distributed():
    """Whether a torch.distributed process group is initialised."""
    return _dist() is not None


def get_rank():
    d = _dist()
    return d.get_rank() if d is not None else 0


def get_world_size():
    d = _dist()
    return d.get_world_size() if d is not None else 1


def all_reduce(object, operation):
    """Zeus's ``all_reduce``: the element-wise "sum" or "max" of a list of
    numbers over every rank. Without an initialised process group the list
    comes back as is. The tensor lives on the current CUDA device for the
    NCCL backend and on the CPU otherwise (gloo), so it works without a
    GPU; values are reduced in float64."""
    if operation not in ("sum", "max"):
        raise ValueError("all_reduce unsupported operation: %s" % operation)
    dist = _dist()
    if dist is None:
        return object
    import torch
    device = "cpu"
    if str(dist.get_backend()).lower() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    t = torch.tensor([float(v) for v in object], dtype=torch.float64,
                     device=device)
    op = dist.ReduceOp.SUM if operation == "sum" else dist.ReduceOp.MAX
    dist.all_reduce(t, op=op)
    return t.cpu().tolist()
