"""Controls for simulated GPUs (the ``sim`` backend, docs/sim.md).

Open them with ``joule.Monitor(devices="sim:2:h100")``; they follow a
documented power model, so tests and demos run without a GPU.
"""

from ctypes import byref, c_double

from ._lib import lib
from .monitor import _sim_call

__all__ = ["set_load", "work_done"]


def _check_gpu(gpu):
    if isinstance(gpu, bool) or not isinstance(gpu, int):
        raise TypeError("joule.sim: gpu must be an int index, not %s"
                        % type(gpu).__name__)


def set_load(monitor, gpu, load):
    """Sets simulated GPU ``gpu``'s load in [0, 1] (power follows at once:
    ``P = P_idle + load * (P_tdp - P_idle)`` at full clock)."""
    _check_gpu(gpu)
    if isinstance(load, bool) or not isinstance(load, (int, float)):
        raise TypeError("joule.sim: load must be a number in [0, 1]")
    _sim_call(monitor, lib.joule_sim_set_load, gpu, float(load))


def work_done(monitor, gpu):
    """Work done so far by simulated GPU ``gpu``, in full-speed seconds (or
    epochs for a trace-mode GPU)."""
    _check_gpu(gpu)
    w = c_double()
    _sim_call(monitor, lib.joule_sim_work_done, gpu, byref(w))
    return w.value
