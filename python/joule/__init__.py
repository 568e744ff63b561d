"""joule: measure the time and energy of GPU/CPU work from Python.

A pure-Python (ctypes) binding of libjoule. Zeus users switch with one
line::

    import joule
    monitor = joule.Monitor(gpu_indices=[0])   # was zeus ZeusMonitor(...)
    monitor.begin_window("step")
    train_step()
    m = monitor.end_window("step")
    print(m.time, m.gpu_energy, m.total_energy)

    with monitor.window("eval"):
        evaluate()

    plo = joule.PowerLimitOptimizer(monitor,    # was GlobalPowerLimitOptimizer
                                    optimum_selector=joule.ZeusCost(0.5))

``joule.HFPowerLimitCallback`` (a Hugging Face ``TrainerCallback``) is
there only where ``transformers`` can be imported; it is built on first use.
See docs/python.md.
"""

from . import _lib
from .errors import (AlreadyExistsError, DeviceNotFoundError, GPULostError,
                     InvalidArgumentError, JouleError, NotFoundError,
                     NotSupportedError, OutOfMemoryError, OutOfRangeError,
                     PermissionDeniedError)
from .monitor import Device, Measurement, Monitor, Window
from .optimizer import (Energy, GlobalPowerLimitOptimizer,
                        MaxSlowdownConstraint, OptimumSelector,
                        PowerLimitMeasurement, PowerLimitOptimizer, Time,
                        ZeusCost)
from .power import PowerDomain, PowerMonitor, TemperatureMonitor, now
from .bso import BatchSizeOptimizer, BatchSizeTrainFailError, JobSpec
from . import sim
from . import device
from . import framework
from . import hourly

__version__ = "0.1.0"
#: Version of the loaded libjoule.so, e.g. "0.1.0".
library_version = _lib.decode(_lib.lib.joule_version())
#: Path (or loader name) of the loaded libjoule.so.
library_path = _lib.path

__all__ = [
    "Monitor", "Measurement", "Window", "Device",
    "PowerMonitor", "PowerLimitOptimizer", "now", "sim",
    "GlobalPowerLimitOptimizer", "PowerLimitMeasurement", "PowerDomain",
    "TemperatureMonitor", "device", "framework", "hourly",
    "OptimumSelector", "Energy", "Time", "ZeusCost", "MaxSlowdownConstraint",
    "BatchSizeOptimizer", "JobSpec", "BatchSizeTrainFailError",
    "JouleError", "InvalidArgumentError", "NotFoundError",
    "AlreadyExistsError", "OutOfRangeError", "DeviceNotFoundError",
    "PermissionDeniedError", "NotSupportedError", "GPULostError",
    "OutOfMemoryError", "library_version", "library_path",
]


def __getattr__(name):
    # PEP 562: joule.HFPowerLimitCallback exists only where transformers
    # can be imported (see joule.optimizer); it is not in __all__, so that
    # `from joule import *` never imports transformers.
    if name in ("HFPowerLimitCallback", "HFGlobalPowerLimitOptimizer"):
        from . import optimizer
        return getattr(optimizer, name)
    if name == "HFBatchSizeCallback":
        from . import bso
        return getattr(bso, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
