"""joule.device: GPU settings with the names of Zeus's ``zeus.device``.

``get_gpus()`` returns a :class:`GPUs` object whose methods take a GPU
index (CUDA-visible, as everywhere in joule) and use Zeus's units:
milliwatts, millijoules, MHz, degrees Celsius::

    from joule.device import get_gpus        # was: from zeus.device import get_gpus
    gpus = get_gpus()
    lo, hi = gpus.get_power_management_limit_constraints(0)   # mW
    gpus.set_power_management_limit(0, hi)
    gpus.set_gpu_locked_clocks(0, 1000, 1400)
    gpus.reset_gpu_locked_clocks(0)

Settings go through libjoule's GPU control (``joule_gpu_*``): directly as
root, and through ``jouled`` for an ordinary user when the daemon is
configured (docs/gpu.md, "Privilege"). Everything changed through one
``GPUs`` object is put back when it is closed (``close()``, garbage
collection or process exit), as ``joule_restore`` does; ``restore=False``
keeps the changes (Zeus's behaviour).
"""

import atexit
import threading
import weakref
from ctypes import POINTER, byref, c_double, c_int, c_void_p

from . import _lib
from ._lib import check, lib
from .errors import InvalidArgumentError, NotSupportedError

__all__ = ["get_gpus", "GPUs", "GPU", "set_power_limit", "reset_power_limit"]

_PROTOTYPES = [
    ("joule_gpu_get_power_limit_w", c_int,
     [c_void_p, c_int, POINTER(c_double), POINTER(c_double), POINTER(c_double),
      POINTER(c_double), POINTER(c_double)]),
    ("joule_gpu_set_power_limit_w", c_int, [c_void_p, c_int, c_double]),
    ("joule_gpu_reset_power_limit", c_int, [c_void_p, c_int]),
    ("joule_gpu_lock_clocks_mhz", c_int, [c_void_p, c_int, c_int, c_int]),
    ("joule_gpu_reset_clocks", c_int, [c_void_p, c_int]),
    ("joule_gpu_lock_memory_clocks_mhz", c_int, [c_void_p, c_int, c_int, c_int]),
    ("joule_gpu_reset_memory_clocks", c_int, [c_void_p, c_int]),
    ("joule_gpu_supported_clocks_mhz", c_int,
     [c_void_p, c_int, POINTER(c_int), c_int]),
    ("joule_gpu_set_persistence", c_int, [c_void_p, c_int, c_int]),
    ("joule_gpu_get_persistence", c_int, [c_void_p, c_int, POINTER(c_int)]),
    ("joule_gpu_clocks_mhz", c_int,
     [c_void_p, c_int, POINTER(c_int), POINTER(c_int)]),
    ("joule_gpu_temperature_c", c_int, [c_void_p, c_int, POINTER(c_int)]),
    ("joule_restore", c_int, [c_void_p]),
]

for _name, _res, _args in _PROTOTYPES:
    _fn = getattr(lib, _name, None)
    if _fn is not None:
        _fn.restype = _res
        _fn.argtypes = _args


def _need(name):
    if not _lib.has(name):
        raise NotImplementedError("joule.device needs %s, which this "
                                  "libjoule.so (%s) does not export"
                                  % (name, _lib.path))
    return getattr(lib, name)


def _call(monitor, name, *args):
    fn = _need(name)
    ctx = monitor._acquire()
    try:
        return check(fn(ctx, *args))
    finally:
        monitor._release()


def power_limits_w(monitor, gpu):
    """``(current, min, max, default, enforced)`` power limit of one GPU of
    a Monitor, in W."""
    vals = [c_double() for _ in range(5)]
    _call(monitor, "joule_gpu_get_power_limit_w", gpu, *map(byref, vals))
    return tuple(v.value for v in vals)


def set_power_limit(monitor, gpu, watts):
    """Sets one GPU's power limit (W) through a Monitor's context."""
    _call(monitor, "joule_gpu_set_power_limit_w", gpu, float(watts))


def reset_power_limit(monitor, gpu):
    _call(monitor, "joule_gpu_reset_power_limit", gpu)


class GPU:
    """One GPU of a :class:`GPUs` (Zeus's per-GPU object): the same
    methods without the index argument."""

    def __init__(self, gpus, index):
        self._gpus = gpus
        self.gpu_index = index

    def __getattr__(self, name):
        fn = getattr(self._gpus, name)
        if not callable(fn):
            raise AttributeError(name)
        return lambda *a, **kw: fn(self.gpu_index, *a, **kw)

    def __repr__(self):
        return "GPU(%d)" % self.gpu_index


class GPUs:
    """Zeus's ``GPUs``: every GPU the device spec opens (``devices=``,
    else ``$JOULE_DEVICES``, else every GPU). ``len(gpus)``,
    ``gpus.gpus`` (per-GPU objects) and the methods below, each taking the
    GPU index first."""

    def __init__(self, devices=None, *, gpu_indices=None, restore=True,
                 ensure_homogeneous=False):
        from .monitor import Monitor
        if isinstance(devices, Monitor):
            self._monitor, self._owns = devices, False
        else:
            self._monitor = Monitor(devices=devices, gpu_indices=gpu_indices,
                                    cpus=[], sync=None)
            self._owns = True
        self._indices = self._monitor.gpu_indices
        if ensure_homogeneous:
            names = {self.get_name(i) for i in self._indices}
            if len(names) > 1:
                raise ValueError("joule: the GPUs are not homogeneous: %s"
                                 % ", ".join(sorted(names)))
        self._restore = restore
        self._lock = threading.Lock()
        self._closed = False
        if restore:
            ref = weakref.ref(self)
            self._atexit = lambda: ref() is not None and ref().close()
            atexit.register(self._atexit)

    # -- lifetime ---------------------------------------------------------

    def close(self):
        """Puts back everything changed through this object (unless
        ``restore=False``) and releases the devices. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self._restore and not self._monitor.closed:
                _call(self._monitor, "joule_restore")
        finally:
            if self._restore:
                atexit.unregister(self._atexit)
            if self._owns:
                self._monitor.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- Zeus's GPUs interface --------------------------------------------

    @property
    def gpus(self):
        return [GPU(self, i) for i in self._indices]

    @property
    def monitor(self):
        return self._monitor

    def __len__(self):
        return len(self._indices)

    def _check(self, gpu_index):
        if isinstance(gpu_index, bool) or not isinstance(gpu_index, int):
            raise TypeError("joule: gpu_index must be an int")
        if gpu_index not in self._indices:
            raise InvalidArgumentError(
                "joule: GPU %d is not one of these GPUs (%s)"
                % (gpu_index, ", ".join(map(str, self._indices)) or "none"))
        return gpu_index

    def _device(self, gpu_index):
        for d in self._monitor.devices:
            if d.kind == _lib.KIND_GPU and d.index == gpu_index:
                return d
        raise InvalidArgumentError("joule: no GPU %d" % gpu_index)

    def get_name(self, gpu_index):
        return self._device(self._check(gpu_index)).name

    def get_power_management_limit_constraints(self, gpu_index):
        """``(min, max)`` power limit in mW."""
        _, lo, hi, _, _ = power_limits_w(self._monitor, self._check(gpu_index))
        return int(round(lo * 1000)), int(round(hi * 1000))

    def get_power_management_limit(self, gpu_index):
        """The power limit now set, mW."""
        cur = power_limits_w(self._monitor, self._check(gpu_index))[0]
        return int(round(cur * 1000))

    def set_power_management_limit(self, gpu_index, power_limit_mw, block=True):
        _call(self._monitor, "joule_gpu_set_power_limit_w",
              self._check(gpu_index), float(power_limit_mw) / 1000.0)

    def reset_power_management_limit(self, gpu_index, block=True):
        _call(self._monitor, "joule_gpu_reset_power_limit",
              self._check(gpu_index))

    def set_persistence_mode(self, gpu_index, enabled, block=True):
        _call(self._monitor, "joule_gpu_set_persistence",
              self._check(gpu_index), 1 if enabled else 0)

    def get_persistence_mode(self, gpu_index):
        on = c_int()
        _call(self._monitor, "joule_gpu_get_persistence",
              self._check(gpu_index), byref(on))
        return bool(on.value)

    def set_gpu_locked_clocks(self, gpu_index, min_clock_mhz, max_clock_mhz,
                              block=True):
        _call(self._monitor, "joule_gpu_lock_clocks_mhz",
              self._check(gpu_index), int(min_clock_mhz), int(max_clock_mhz))

    def reset_gpu_locked_clocks(self, gpu_index, block=True):
        _call(self._monitor, "joule_gpu_reset_clocks", self._check(gpu_index))

    def set_memory_locked_clocks(self, gpu_index, min_clock_mhz,
                                 max_clock_mhz, block=True):
        _call(self._monitor, "joule_gpu_lock_memory_clocks_mhz",
              self._check(gpu_index), int(min_clock_mhz), int(max_clock_mhz))

    def reset_memory_locked_clocks(self, gpu_index, block=True):
        _call(self._monitor, "joule_gpu_reset_memory_clocks",
              self._check(gpu_index))

    def reset_locked_clocks(self, gpu_index, block=True):
        self.reset_gpu_locked_clocks(gpu_index)
        self.reset_memory_locked_clocks(gpu_index)

    def get_supported_graphics_clocks(self, gpu_index, memory_clock_mhz=None):
        """Supported SM clocks, MHz, descending (libjoule lists those of
        the current memory clock; ``memory_clock_mhz`` is accepted)."""
        g = self._check(gpu_index)
        n = _call(self._monitor, "joule_gpu_supported_clocks_mhz", g, None, 0)
        buf = (c_int * max(n, 1))()
        n = _call(self._monitor, "joule_gpu_supported_clocks_mhz", g, buf,
                  max(n, 1))
        return [buf[i] for i in range(n)]

    def get_supported_memory_clocks(self, gpu_index):
        raise NotSupportedError(
            "joule: libjoule has no call listing supported memory clocks "
            "(joule_gpu_supported_memory_clocks_mhz); the current one is "
            "in get_clocks()")

    def get_clocks(self, gpu_index):
        """joule's addition: ``(sm_mhz, memory_mhz)`` now."""
        sm, mem = c_int(), c_int()
        _call(self._monitor, "joule_gpu_clocks_mhz", self._check(gpu_index),
              byref(sm), byref(mem))
        return sm.value, mem.value

    def get_gpu_temperature(self, gpu_index):
        c = c_int()
        _call(self._monitor, "joule_gpu_temperature_c",
              self._check(gpu_index), byref(c))
        return c.value

    def get_instant_power_usage(self, gpu_index):
        """Current power, mW (instant where the GPU has it)."""
        w = c_double()
        d = self._device(self._check(gpu_index))
        ctx = self._monitor._acquire()
        try:
            check(lib.joule_device_power_w(ctx, d.position, byref(w)))
        finally:
            self._monitor._release()
        return int(round(w.value * 1000))

    def supports_get_total_energy_consumption(self, gpu_index):
        return self._device(self._check(gpu_index)).update_period_us > 0

    def get_total_energy_consumption(self, gpu_index):
        """Energy since these GPUs were opened, mJ (Zeus: since the driver
        loaded; only differences are meaningful in either)."""
        d = self._device(self._check(gpu_index))
        j, q = c_double(), c_int()
        ctx = self._monitor._acquire()
        try:
            check(lib.joule_device_energy_j(ctx, d.position, byref(j),
                                            byref(q)))
        finally:
            self._monitor._release()
        return int(round(j.value * 1000))

    def supports_nonblocking_setters(self, gpu_index=None):
        return False


_cache = {}
_cache_lock = threading.Lock()


def get_gpus(ensure_homogeneous=False, *, devices=None):
    """Zeus's ``get_gpus()``: one shared :class:`GPUs` per device spec
    (``devices=``, else ``$JOULE_DEVICES``, else every GPU)."""
    with _cache_lock:
        g = _cache.get(devices)
        if g is None or g._closed:
            g = _cache[devices] = GPUs(devices)
    if ensure_homogeneous:
        names = {g.get_name(i) for i in g._indices}
        if len(names) > 1:
            raise ValueError("joule: the GPUs are not homogeneous: %s"
                             % ", ".join(sorted(names)))
    return g
