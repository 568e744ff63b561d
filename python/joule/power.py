"""joule.PowerMonitor: power over time from libjoule's background sampler."""

import enum
import time as _time
from ctypes import byref, c_double, c_void_p

from . import _lib
from ._lib import check, decode, lib
from .errors import InvalidArgumentError, NotSupportedError, OutOfRangeError
from . import monitor as _monitor
from .monitor import Device, Monitor

__all__ = ["PowerMonitor", "PowerDomain", "PowerSample", "TemperatureMonitor",
           "now", "wall_offset"]


class PowerDomain(enum.Enum):
    """Zeus's power domains (zeus.monitor.power.PowerDomain)."""

    DEVICE_INSTANT = "device_instant"
    DEVICE_AVERAGE = "device_average"
    MEMORY_AVERAGE = "memory_average"


#: Zeus's domain -> the sampler's domain.
_ZEUS_DOMAIN = {PowerDomain.DEVICE_INSTANT: "power",
                PowerDomain.DEVICE_AVERAGE: "avg_power",
                PowerDomain.MEMORY_AVERAGE: "memory_power"}


class PowerSample:
    """Zeus's ``PowerSample``: ``timestamp`` (time.time()), ``gpu_index``,
    ``power_mw``."""

    __slots__ = ("timestamp", "gpu_index", "power_mw")

    def __init__(self, timestamp, gpu_index, power_mw):
        self.timestamp = timestamp
        self.gpu_index = gpu_index
        self.power_mw = power_mw

    def __repr__(self):
        return "PowerSample(timestamp=%r, gpu_index=%r, power_mw=%r)" % (
            self.timestamp, self.gpu_index, self.power_mw)


def wall_offset():
    """``time.time() - joule.now()`` now: add it to a monotonic stamp to
    get a wall-clock one. Read at each query, so a clock step (NTP) moves
    the conversion with it."""
    best = None
    for _ in range(3):  # the tightest of three brackets
        a = _time.time()
        m = lib.joule_now_s()
        b = _time.time()
        if best is None or b - a < best[0]:
            best = (b - a, (a + b) / 2 - m)
    return best[1]


def _zeus_domain(domain):
    if isinstance(domain, PowerDomain):
        return domain
    if isinstance(domain, str):
        try:
            return PowerDomain(domain)
        except ValueError:
            raise ValueError(
                "joule: unknown power domain %r; Zeus's are %s"
                % (domain, ", ".join(d.value for d in PowerDomain))) from None
    if type(domain).__name__ == "PowerDomain":  # zeus's own enum
        return PowerDomain(domain.value)
    raise TypeError("joule: power_domain must be a PowerDomain or its "
                    "value, not %s" % type(domain).__name__)


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

    def __init__(self, devices=None, interval_ms=None, history_s=None, *,
                 gpus=None, cpus=None, gpu_indices=None, cpu_indices=None,
                 sysfs_root=None, start=True, update_period=None,
                 max_samples_per_gpu=None, power_domains=None):
        self._sampler = None
        self._owns_monitor = False
        _require()
        if isinstance(devices, (list, tuple, range)):
            # Zeus's signature: PowerMonitor(gpu_indices, update_period,
            # max_samples_per_gpu, power_domains), positionally too.
            if gpu_indices is not None:
                raise TypeError("joule: gpu_indices given twice")
            gpu_indices, devices = list(devices), None
            if interval_ms is not None:
                if update_period is not None:
                    raise TypeError("joule: update_period given twice")
                update_period, interval_ms = interval_ms, None
            if history_s is not None:
                if max_samples_per_gpu is not None:
                    raise TypeError("joule: max_samples_per_gpu given twice")
                max_samples_per_gpu, history_s = history_s, None
        if interval_ms is None:
            interval_ms = 100
        if history_s is None:
            history_s = 3600.0
        if gpu_indices is not None and len(list(gpu_indices)) == 0:
            raise ValueError("`gpu_indices` must be either `None` or non-empty")
        if power_domains is not None and not power_domains:
            raise ValueError("`power_domains` must be either `None` or "
                             "non-empty")
        if update_period is not None:
            if isinstance(update_period, bool) or \
                    not isinstance(update_period, (int, float)):
                raise TypeError("joule: update_period is seconds")
            if update_period <= 0:
                raise ValueError("joule: update_period must be > 0 s, not %r"
                                 % (update_period,))
            # The sampler runs at 1 Hz at the slowest: a longer period
            # samples at 1 s (denser than asked, never sparser).
            interval_ms = min(update_period * 1000.0, 1000.0)
        if max_samples_per_gpu is not None:
            if isinstance(max_samples_per_gpu, bool) or \
                    not isinstance(max_samples_per_gpu, int) or \
                    max_samples_per_gpu < 1:
                raise ValueError("joule: max_samples_per_gpu must be an "
                                 "int >= 1 or None")
            history_s = max_samples_per_gpu * float(interval_ms) / 1000.0
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
        #: Zeus's attributes: seconds between samples, GPUs sampled.
        self.update_period = float(update_period) if update_period \
            is not None else float(interval_ms) / 1000.0
        self.gpu_indices = self._monitor.gpu_indices
        self.measurement_domains = self._zeus_domains(power_domains)
        if start:
            self.start()
            self._wait_first_samples()

    def _zeus_domains(self, requested):
        gpus = [d for d in self._monitor.devices if d.kind == _lib.KIND_GPU]
        supported = []
        if gpus:
            for zd, ours in _ZEUS_DOMAIN.items():
                if ours in self._domains and self._call(
                        lambda s: lib.joule_sampler_has(
                            s, gpus[0].position, self._domains[ours])):
                    supported.append(zd)
        if requested is None:
            return supported
        out = []
        for r in requested:
            zd = _zeus_domain(r)
            if zd not in supported:
                self.close()
                raise ValueError(
                    "Requested power domain %s is not supported by the "
                    "current GPUs. Supported domains are: %s"
                    % (zd.value, [d.value for d in supported]))
            if zd not in out:
                out.append(zd)
        return out

    def _wait_first_samples(self, timeout_s=2.0):
        """Returns once every GPU has a power sample (at most timeout_s),
        so that a stamp taken right after the constructor is covered."""
        gpus = [d for d in self._monitor.devices if d.kind == _lib.KIND_GPU]
        if not gpus or "power" not in self._domains:
            return
        dom = self._domains["power"]
        deadline = _time.monotonic() + timeout_s
        while _time.monotonic() < deadline:
            if all(self._first_time(d.position, dom) is not None
                   for d in gpus):
                return
            _time.sleep(0.002)

    def _first_time(self, pos, dom):
        """Monotonic time of the oldest sample kept, or None."""
        def query(s):
            if not lib.joule_sampler_has(s, pos, dom):
                return None
            ts, vs = (c_double * 1)(), (c_double * 1)()
            n = lib.joule_sampler_timeline(s, pos, dom, 0.0,
                                           lib.joule_now_s() + 1.0, ts, vs, 1)
            return ts[0] if n > 0 else None
        return self._call(query)

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
        return self._timeline(pos, dom, t0, t1)

    def _timeline(self, pos, dom, t0, t1, offset=0.0, strict=False):
        """timeline()'s samples, each time + offset; strict: none before t0
        (the one in force at t0 is left out)."""
        fast = _monitor._fast
        if fast is not None:  # the list is built in C (joule._fast)
            return self._call(lambda s: fast.timeline(s.value, pos, dom, t0, t1,
                                                      offset, strict))

        def query(s):
            cap = 0
            while True:
                ts = (c_double * max(cap, 1))()
                vs = (c_double * max(cap, 1))()
                n = check(lib.joule_sampler_timeline(
                    s, pos, dom, t0, t1, ts if cap else None,
                    vs if cap else None, cap))
                if cap and n <= cap:
                    return [(ts[i] + offset, vs[i]) for i in range(n)
                            if not strict or ts[i] >= t0]
                if n == 0:
                    return []
                cap = n + 64  # samples may arrive between the calls

        return self._call(query)

    def covered(self):
        """``(oldest, now)`` in monotonic seconds: the span the history
        answers for (the oldest power sample kept of any GPU or, without
        GPUs, of any device, to now). ``None`` before the first sample."""
        dom = self._domains.get("power")
        devs = [d for d in self._monitor.devices if d.kind == _lib.KIND_GPU] \
            or list(self._monitor.devices)
        firsts = [self._first_time(d.position, dom) for d in devs] \
            if dom is not None else []
        firsts = [t for t in firsts if t is not None]
        if not firsts:
            return None
        return max(firsts), lib.joule_now_s()

    def _check_covered(self, t0, t1, offset=None, what="joule.now()"):
        """A range the history does not hold is an error saying what it
        holds (never an extrapolation)."""
        span = self.covered()
        shift = 0.0 if offset is None else offset
        if span is None:
            raise OutOfRangeError(
                "joule: the PowerMonitor has no samples yet; it covers "
                "nothing (is it started?)")
        lo, hi = span
        slack = 0.01  # converting clocks and rounding, not extrapolating
        if t0 < lo - slack or t1 > hi + slack:
            raise OutOfRangeError(
                "joule: the PowerMonitor's history covers %.6f to %.6f "
                "(%s); asked for %.6f to %.6f. %s"
                % (lo + shift, hi + shift, what, t0 + shift, t1 + shift,
                   "PowerMonitor.energy() takes joule.now() / "
                   "time.monotonic() stamps; get_energy() takes Zeus's "
                   "time.time() ones." if offset is None else
                   "get_energy() takes time.time() stamps; "
                   "PowerMonitor.energy() takes joule.now() ones."))

    def energy(self, start=None, end=None):
        """``{label: joules}`` over [start, end] (monotonic seconds,
        :func:`joule.now`), integrating each device's power as the step
        function the hardware reports. Devices without a power reading are
        left out. A range the history does not cover (before the oldest
        sample kept, or in the future) raises OutOfRangeError (a
        ValueError) saying what it covers."""
        t0, t1 = self._range(start, end)
        if t1 < t0:
            raise InvalidArgumentError(
                "joule: energy(start, end) with end %.6f before start %.6f"
                % (t1, t0))
        if start is not None or end is not None:
            self._check_covered(t0 if start is not None else t1, t1)

        devices = self._monitor.devices
        fast = _monitor._fast
        if fast is not None:  # every device in one call (joule._fast)
            got = self._call(lambda s: fast.energy(
                s.value, tuple(d.position for d in devices), t0, t1))
            return {d.label: j for d, j in zip(devices, got) if j is not None}

        def query(s):
            out, j = {}, c_double()
            for d in devices:
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

    # -- Zeus's PowerMonitor API (time.time() stamps, GPU-index keys) ------

    def _gpu_devices(self, gpu_index=None):
        gpus = [d for d in self._monitor.devices if d.kind == _lib.KIND_GPU]
        if gpu_index is None:
            return gpus
        for d in gpus:
            if d.index == gpu_index:
                return [d]
        raise InvalidArgumentError(
            "joule: GPU %r is not monitored (GPUs: %s)"
            % (gpu_index, self.gpu_indices))

    def _zeus_dom(self, power_domain):
        zd = _zeus_domain(power_domain)
        if zd not in self.measurement_domains:
            raise ValueError(
                "Power domain %s is not being monitored. Monitored domains: "
                "%s" % (zd.value, [d.value for d in self.measurement_domains]))
        return zd

    def get_power_timeline(self, power_domain, gpu_index=None,
                           start_time=None, end_time=None):
        """Zeus's ``{gpu index: [(time.time() stamp, W), ...]}`` of one
        power domain ("device_instant", "device_average",
        "memory_average"), samples with start_time <= t <= end_time, each
        stored when the value changed."""
        zd = self._zeus_dom(power_domain)
        return self._wall_timelines(_ZEUS_DOMAIN[zd], gpu_index, start_time,
                                    end_time)

    def _wall_timelines(self, domain, gpu_index, start_time, end_time):
        off = wall_offset()
        t0 = 0.0 if start_time is None else start_time - off
        t1 = lib.joule_now_s() if end_time is None else end_time - off
        dom = self._domain(domain)
        out = {}
        for d in self._gpu_devices(gpu_index):
            if self.has(d, domain):
                out[d.index] = self._timeline(d.position, dom, t0, t1, off,
                                              strict=True)
        return out

    def get_all_power_timelines(self, gpu_index=None, start_time=None,
                                end_time=None):
        """``{domain value: {gpu index: [(t, W), ...]}}`` for every
        monitored domain."""
        return {zd.value: self.get_power_timeline(zd, gpu_index, start_time,
                                                  end_time)
                for zd in self.measurement_domains}

    def get_energy(self, start_time, end_time, power_domain=None):
        """Zeus's ``{gpu index: J}`` between two ``time.time()`` stamps.

        The power is integrated as the step function the GPU reports (Zeus
        uses the trapezoid rule over its samples). A range the history does
        not cover (before the first sample kept, or later than now) raises
        OutOfRangeError (a ValueError) saying what it covers, never an
        extrapolation. Returns None when no GPU is sampled (as Zeus)."""
        for v in (start_time, end_time):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError("joule: get_energy takes time.time() stamps")
        if end_time < start_time:
            raise ValueError("joule: get_energy: end_time %.6f is before "
                             "start_time %.6f" % (end_time, start_time))
        if power_domain is None:
            if PowerDomain.DEVICE_INSTANT in self.measurement_domains:
                zd = PowerDomain.DEVICE_INSTANT
            elif PowerDomain.DEVICE_AVERAGE in self.measurement_domains:
                zd = PowerDomain.DEVICE_AVERAGE
            else:
                raise ValueError(
                    "Neither PowerDomain.DEVICE_INSTANT nor "
                    "PowerDomain.DEVICE_AVERAGE is being monitored. Cannot "
                    "compute energy usage.")
        else:
            zd = self._zeus_dom(power_domain)
        gpus = self._gpu_devices()
        if not gpus:
            return None
        off = wall_offset()
        t0, t1 = start_time - off, end_time - off
        self._check_covered(t0, t1, off, "time.time()")
        out = {}
        if zd is PowerDomain.DEVICE_INSTANT:
            j = c_double()
            for d in gpus:
                self._call(lambda s: check(lib.joule_sampler_energy_j(
                    s, d.position, t0, t1, byref(j))))
                out[d.index] = j.value
            return out
        for d in gpus:  # a step integral of the other domain's samples
            series = self.timeline(d, _ZEUS_DOMAIN[zd], t0, t1)
            e = 0.0
            for i, (t, v) in enumerate(series):
                a = max(t, t0)
                b = series[i + 1][0] if i + 1 < len(series) else t1
                if b > a:
                    e += v * (min(b, t1) - a)
            out[d.index] = e
        return out

    def get_power(self, time=None, power_domain=PowerDomain.DEVICE_INSTANT):
        """Zeus's ``{gpu index: W}`` at the sample nearest ``time`` (a
        ``time.time()`` stamp; None: the latest). None without samples."""
        zd = self._zeus_dom(power_domain)
        timelines = self._wall_timelines(_ZEUS_DOMAIN[zd], None, None, None)
        out = {}
        for g in self.gpu_indices:
            series = timelines.get(g)
            if not series:
                return None
            if time is None:
                out[g] = series[-1][1]
            else:
                out[g] = min(series, key=lambda tv: abs(tv[0] - time))[1]
        return out


class TemperatureMonitor:
    """Zeus's ``TemperatureMonitor(gpu_indices=None, update_period=1.0,
    max_samples_per_gpu=None)``: GPU temperature sampled in libjoule's
    background thread (no subprocess). ``devices=`` (a spec or a Monitor)
    is joule's addition, as for :class:`PowerMonitor`."""

    def __init__(self, gpu_indices=None, update_period=1.0,
                 max_samples_per_gpu=None, *, devices=None, sysfs_root=None):
        if gpu_indices is not None and len(list(gpu_indices)) == 0:
            raise ValueError("`gpu_indices` must be either `None` or non-empty")
        mine = not isinstance(devices, Monitor)
        self._pm = PowerMonitor(devices, update_period=update_period,
                                gpu_indices=gpu_indices if mine else None,
                                cpus=[] if mine else None,
                                max_samples_per_gpu=max_samples_per_gpu,
                                sysfs_root=sysfs_root)
        self.gpu_indices = self._pm.gpu_indices
        self.update_period = self._pm.update_period
        if not self.gpu_indices:
            self._pm.close()
            raise ValueError("At least one GPU index must be specified")

    @property
    def power_monitor(self):
        return self._pm

    def stop(self):
        """Stops sampling (Zeus's ``stop``); queries still answer."""
        self._pm.stop()

    def close(self):
        self._pm.close()

    def get_temperature_timeline(self, gpu_index=None, start_time=None,
                                 end_time=None):
        """``{gpu index: [(time.time() stamp, °C), ...]}``."""
        tl = self._pm._wall_timelines("temp", gpu_index, start_time, end_time)
        return {g: [(t, int(round(v))) for t, v in s] for g, s in tl.items()}

    def get_temperature(self, time=None):
        """``{gpu index: °C}`` at the sample nearest ``time``
        (``time.time()``; None: the latest), or None without samples."""
        tl = self.get_temperature_timeline()
        out = {}
        for g in self.gpu_indices:
            s = tl.get(g)
            if not s:
                return None
            out[g] = s[-1][1] if time is None else \
                min(s, key=lambda tv: abs(tv[0] - time))[1]
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
