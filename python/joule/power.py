"""joule.PowerMonitor: power over time from libjoule's background sampler."""

from ctypes import byref, c_double, c_void_p

from . import _lib
from ._lib import check, decode, lib
from .errors import InvalidArgumentError, NotSupportedError
from .monitor import Device, Monitor

__all__ = ["PowerMonitor", "now"]


def now():
    """libjoule's clock: monotonic seconds (CLOCK_MONOTONIC), the time base
    of PowerMonitor queries. On Linux it is the clock of
    ``time.monotonic()``, so either may mark a start or end."""
    _require()
    return lib.joule_now_s()


def _require():
    if not _lib.has("joule_sampler_create"):
        raise NotImplementedError(
            "joule.PowerMonitor needs libjoule's background sampler "
            "(joule_sampler_*), which this libjoule.so (%s) does not export; "
            "rebuild it from a tree that has the sampler" % _lib.path)


def _domains():
    names = {}
    for d in range(64):
        name = decode(lib.joule_domain_name(d)) if _lib.has(
            "joule_domain_name") else ""
        if not name or name in names:
            break
        names[name] = d
        for unit in ("_w", "_j", "_c", "_mhz"):
            if name.endswith(unit):
                names.setdefault(name[:-len(unit)], d)
    return names


class PowerMonitor:
    """Samples every device's power (and energy, temperature, clocks,
    throttle reasons where the device has them) in a background C thread.

    ``PowerMonitor(devices=None, interval_ms=100, history_s=3600)``:
    ``devices`` is a device spec (as for Monitor; None = the default), or
    a :class:`joule.Monitor` whose devices to sample (one PowerMonitor per
    Monitor). ``gpus``/``cpus`` (or Zeus's ``gpu_indices``/``cpu_indices``)
    and ``sysfs_root`` are passed to the Monitor it opens. Sampling starts
    at once unless ``start=False``.

    Times are monotonic seconds (:func:`joule.now`, ``time.monotonic()``);
    ``start=None`` means "from the oldest sample kept", ``end=None`` "now".
    """

    def __init__(self, devices=None, interval_ms=100, history_s=3600.0, *,
                 gpus=None, cpus=None, gpu_indices=None, cpu_indices=None,
                 sysfs_root=None, start=True):
        self._sampler = None
        self._owns_monitor = False
        _require()
        for v, what in ((interval_ms, "interval_ms"),
                        (history_s, "history_s")):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError("joule: %s must be a number" % what)
        if isinstance(devices, Monitor):
            if any(x is not None for x in (gpus, cpus, gpu_indices,
                                           cpu_indices, sysfs_root)):
                raise TypeError("joule: pass either a Monitor or device "
                                "arguments, not both")
            self._monitor = devices
        else:
            self._monitor = Monitor(gpus=gpus, cpus=cpus, devices=devices,
                                    sync=None, gpu_indices=gpu_indices,
                                    cpu_indices=cpu_indices,
                                    sysfs_root=sysfs_root)
            self._owns_monitor = True
        self._domains = _domains()
        ctx = self._monitor._acquire()
        try:
            s = c_void_p()
            check(lib.joule_sampler_create(ctx, float(interval_ms),
                                           float(history_s), byref(s)))
            self._sampler = s
            self._monitor._add_close_hook(self._destroy)
        except BaseException:
            if self._sampler is not None:
                lib.joule_sampler_destroy(self._sampler)
                self._sampler = None
            self._monitor._release()
            self._close_owned()
            raise
        self._monitor._release()
        if start:
            self.start()

    # -- lifetime --------------------------------------------------------

    def _destroy(self, _ctx):
        s, self._sampler = self._sampler, None
        if s is not None:
            lib.joule_sampler_destroy(s)

    def _close_owned(self):
        if self._owns_monitor:
            self._monitor.close()

    def _call(self, fn, *args):
        self._monitor._acquire()
        try:
            s = self._sampler
            if s is None:
                raise InvalidArgumentError("joule: the PowerMonitor is closed")
            return fn(s, *args)
        finally:
            self._monitor._release()

    def start(self):
        """(Re)starts sampling; history is kept across stop/start."""
        self._call(lambda s: check(lib.joule_sampler_start(s)))

    def stop(self):
        """Stops sampling; queries still answer from the history."""
        self._call(lambda s: check(lib.joule_sampler_stop(s)))

    def close(self):
        """Stops and frees the sampler (and the Monitor it opened)."""
        monitor = getattr(self, "_monitor", None)
        if monitor is None:
            return
        if not monitor.closed:
            monitor._run_close_hook_now(self._destroy)
        self._close_owned()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- queries ---------------------------------------------------------

    @property
    def monitor(self):
        return self._monitor

    @property
    def devices(self):
        return self._monitor.devices

    def _position(self, device):
        devs = self._monitor.devices
        if isinstance(device, Device):
            return device.position
        if isinstance(device, str):
            for d in devs:
                if d.label == device:
                    return d.position
            raise InvalidArgumentError(
                "joule: no device %r is sampled (devices: %s)"
                % (device, ", ".join(d.label for d in devs)))
        if isinstance(device, int) and not isinstance(device, bool):
            for d in devs:  # Zeus style: an int is a GPU index
                if d.kind == _lib.KIND_GPU and d.index == device:
                    return d.position
            raise InvalidArgumentError("joule: GPU %d is not sampled"
                                       % device)
        raise TypeError("joule: device must be a label such as 'gpu0', a "
                        "GPU index or a Device, not %s"
                        % type(device).__name__)

    def _domain(self, domain):
        if not isinstance(domain, str):
            raise TypeError("joule: domain must be a string such as 'power'")
        try:
            return self._domains[domain]
        except KeyError:
            raise InvalidArgumentError(
                "joule: unknown domain %r; known: %s"
                % (domain, ", ".join(sorted(self._domains)))) from None

    @staticmethod
    def _range(start, end):
        for v in (start, end):
            if v is not None and (isinstance(v, bool) or
                                  not isinstance(v, (int, float))):
                raise TypeError("joule: start and end are seconds "
                                "(joule.now() / time.monotonic()) or None")
        t0 = 0.0 if start is None else float(start)
        t1 = lib.joule_now_s() if end is None else float(end)
        return t0, t1

    def has(self, device, domain):
        """Whether the device is sampled in that domain."""
        pos, dom = self._position(device), self._domain(domain)
        return bool(self._call(lambda s: lib.joule_sampler_has(s, pos, dom)))

    def timeline(self, device, domain="power", start=None, end=None):
        """``[(t, value), ...]`` of one device in one domain ("power" in W,
        "avg_power", "memory_power", "counter_power", "energy" in J,
        "temp" in C, "sm_clock" in MHz, "throttle" bitmask), for samples
        with start <= t <= end, preceded by the sample in force at start.
        Each value holds until the next sample (a step function)."""
        pos, dom = self._position(device), self._domain(domain)
        t0, t1 = self._range(start, end)

        def query(s):
            cap = 0
            while True:
                ts = (c_double * max(cap, 1))()
                vs = (c_double * max(cap, 1))()
                n = check(lib.joule_sampler_timeline(
                    s, pos, dom, t0, t1, ts if cap else None,
                    vs if cap else None, cap))
                if cap and n <= cap:
                    return [(ts[i], vs[i]) for i in range(n)]
                if n == 0:
                    return []
                cap = n + 64  # samples may arrive between the calls

        return self._call(query)

    def energy(self, start=None, end=None):
        """``{label: joules}`` over [start, end], integrating each device's
        power as the step function the hardware reports. Devices without a
        power reading are left out."""
        t0, t1 = self._range(start, end)

        def query(s):
            out, j = {}, c_double()
            for d in self._monitor.devices:
                try:
                    check(lib.joule_sampler_energy_j(s, d.position, t0, t1,
                                                     byref(j)))
                except NotSupportedError:
                    continue
                out[d.label] = j.value
            return out

        return self._call(query)

    def dropped(self, device, domain="power"):
        """Samples dropped because the history was full."""
        pos, dom = self._position(device), self._domain(domain)
        return self._call(lambda s: lib.joule_sampler_dropped(s, pos, dom))

    def __repr__(self):
        return "PowerMonitor(%s)" % self._monitor
