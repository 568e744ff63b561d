"""Measurement windows: joule.Monitor and joule.Measurement."""

import functools
import inspect
import operator
import os
import threading
import warnings
from ctypes import byref, c_double, c_int, c_void_p

from .. import _fastpath
from .. import _lib
from .. import sync as _sync
from .._lib import check, decode, lib
from ..errors import DeviceNotFoundError, InvalidArgumentError, error_for

__all__ = ["Monitor", "Measurement", "Device", "Window"]

_KIND_ATTR = {_lib.KIND_GPU: "gpu", _lib.KIND_CPU: "cpu",
              _lib.KIND_DRAM: "dram", _lib.KIND_PSYS: "psys",
              _lib.KIND_CORE: "core", _lib.KIND_UNCORE: "uncore"}


_CAP_SIMULATED = 1 << 11  # JOULE_CAP_SIMULATED in joule.h


class Device:
    """One monitored device, as libjoule describes it (read-only)."""

    __slots__ = ("position", "label", "kind", "index", "name", "backend",
                 "uuid", "caps", "energy_resolution_uj", "update_period_us",
                 "note")

    def __init__(self, **kw):
        for k, v in kw.items():
            object.__setattr__(self, k, v)

    def __setattr__(self, name, value):
        raise AttributeError("Device is read-only")

    @property
    def kind_name(self):
        """"gpu", "cpu" (package), "dram", "psys", "core" or "uncore"."""
        return _KIND_ATTR.get(self.kind, str(self.kind))

    @property
    def simulated(self):
        """Whether the device is simulated (its JOULE_CAP_SIMULATED bit)."""
        return bool(self.caps & _CAP_SIMULATED)

    def __repr__(self):
        return "Device(%s, %r, backend=%r)" % (self.label, self.name,
                                                self.backend)


class Measurement:
    """Time and energy of one ended window.

    Attributes (Zeus-compatible names first):

    - ``time``: seconds (CLOCK_MONOTONIC) between the window's edges.
    - ``gpu_energy``: ``{gpu index: joules}``.
    - ``cpu_energy``: ``{cpu package index: joules}`` (``{}`` if none).
    - ``dram_energy``: ``{dram index: joules}`` (``{}`` if none).
    - ``total_energy``: GPUs + CPU packages + DRAM, joules, skipping devices
      in error (libjoule's ``joule_result_total_all_j``).
    - ``energy``: ``{label: joules}`` for every device (``"gpu0"``,
      ``"cpu0"``, ``"dram0"``, ``"psys0"``...). A device in error is NaN.
    - ``uncertainty``: ``{gpu index: joules}``, keyed like ``gpu_energy``: a
      bound on each GPU value's error that holds for at least 95 % of
      windows (``cpu_uncertainty`` and ``dram_uncertainty`` likewise, and
      ``energy_uncertainty`` by label).
    - ``quality``: ``{label: "exact" | "approx" | "below_resolution" |
      "error"}``; "exact" means within 1 % (the uncertainty says how close).
    - ``status``: ``{label: None or "JOULE_E..."}`` (the device's error).
    - ``name``, ``start_time`` (wall clock at begin, seconds since the
      epoch).
    """

    __slots__ = ("name", "time", "start_time", "gpu_energy", "cpu_energy",
                 "dram_energy", "total_energy", "energy", "quality", "status",
                 "energy_uncertainty", "uncertainty", "cpu_uncertainty",
                 "dram_uncertainty", "_nodes", "_pending")

    def __init__(self, name, time, start_time, energy, quality, status,
                 gpu_energy, cpu_energy, dram_energy, total_energy,
                 energy_uncertainty=None, uncertainty=None, cpu_uncertainty=None,
                 dram_uncertainty=None):
        self.name = name
        self.time = time
        self.start_time = start_time
        self.energy = energy
        self.quality = quality
        self.status = status
        self.gpu_energy = gpu_energy
        self.cpu_energy = cpu_energy
        self.dram_energy = dram_energy
        self.total_energy = total_energy
        self.energy_uncertainty = energy_uncertainty or {}
        self.uncertainty = uncertainty or {}
        self.cpu_uncertainty = cpu_uncertainty or {}
        self.dram_uncertainty = dram_uncertainty or {}

    def __getattr__(self, attr):
        # Reached only for a slot not set. A Measurement from joule._fast
        # keeps its per-device values as numbers (`_pending`) until one of
        # its dicts is first asked for, then builds them all at once.
        if attr in _PENDING_ATTRS:
            try:
                pending = object.__getattribute__(self, "_pending")
            except AttributeError:
                pass
            else:
                pending.fill(self)
                return object.__getattribute__(self, attr)
        raise AttributeError("%r object has no attribute %r"
                             % (type(self).__name__, attr))

    def __getstate__(self):  # pickle, copy: the dicts, not the pending values
        return {a: getattr(self, a) for a in Measurement.__slots__
                if a != "_pending" and hasattr(self, a)}

    def __setstate__(self, state):
        for a, v in state.items():
            object.__setattr__(self, a, v)

    @property
    def nodes(self):
        """For a job measurement (``Monitor(..., reduce="job")``): one
        ``Node`` per host (``host``, ``ranks``, ``measurement``), in rank
        order; None for a window of this process alone."""
        return getattr(self, "_nodes", None)

    @property
    def soc_energy(self):
        """Zeus's SoC (Apple silicon, Jetson) energy: None, as joule has no
        SoC backend (a property, so Measurements the C path builds have it
        too)."""
        return None

    @property
    def exact(self):
        """Whether every device's value is within 1 % (quality "exact")."""
        return all(q == "exact" for q in self.quality.values())

    def __repr__(self):
        parts = ", ".join("%s=%.3f J%s" % (label, e, "" if self.quality[label]
                                          == "exact" else
                                          " (%s)" % self.quality[label])
                          for label, e in self.energy.items())
        return "Measurement(%r, time=%.6f s, total_energy=%.3f J, %s)" % (
            self.name, self.time, self.total_energy, parts)


#: What joule._fast's Measurements build on first use.
_PENDING_ATTRS = frozenset((
    "energy", "quality", "status", "gpu_energy", "cpu_energy", "dram_energy",
    "energy_uncertainty", "uncertainty", "cpu_uncertainty",
    "dram_uncertainty"))


def _from_result(r, devices, name, visible=None):
    """Builds a Measurement from a joule_result* (does not free it): one
    call reads every device, since each ctypes call costs about a µs.
    ``visible``: the devices to report when the context holds more (a
    narrowed selection of simulated GPUs); the total is then theirs."""
    n = len(devices)
    energies, qualities, statuses = (c_double * n)(), (c_int * n)(), (c_int * n)()
    bounds = (c_double * n)()
    lib.joule_result_read(r, energies, qualities, statuses, n)
    lib.joule_result_read_uncertainty(r, bounds, n)
    energy, quality, status, bound = {}, {}, {}, {}
    by_kind = {"gpu": {}, "cpu": {}, "dram": {}}
    bound_by_kind = {"gpu": {}, "cpu": {}, "dram": {}}
    shown = None if visible is None else {d.position for d in visible}
    for i, d in enumerate(devices):
        if shown is not None and d.position not in shown:
            continue
        e = energies[i]
        energy[d.label] = e
        bound[d.label] = bounds[i]
        q = qualities[i]
        quality[d.label] = _lib.QUALITY_NAMES.get(q, str(q))
        st = statuses[i]
        status[d.label] = None if st == 0 else decode(lib.joule_strerror(st))
        attr = _KIND_ATTR.get(d.kind)
        if attr in by_kind:
            by_kind[attr][d.index] = e
            bound_by_kind[attr][d.index] = bounds[i]
    return Measurement(
        name=name,
        time=lib.joule_result_time_s(r),
        start_time=lib.joule_result_start_unix_s(r),
        energy=energy, quality=quality, status=status,
        gpu_energy=by_kind["gpu"], cpu_energy=by_kind["cpu"],
        dram_energy=by_kind["dram"],
        total_energy=(lib.joule_result_total_all_j(r) if visible is None else
                      _visible_total(energy, status, devices, shown)),
        energy_uncertainty=bound, uncertainty=bound_by_kind["gpu"],
        cpu_uncertainty=bound_by_kind["cpu"], dram_uncertainty=bound_by_kind["dram"])


def _visible_total(energy, status, devices, shown):
    total = 0.0
    for d in devices:
        if d.position in shown and _KIND_ATTR.get(d.kind) in (
                "gpu", "cpu", "dram") and status.get(d.label) is None:
            e = energy[d.label]
            if e == e:  # not NaN
                total += e
    return total


def _empty_measurement(name, devices):
    """Zeus's answer to ``end_window(cancel=True)``: time 0 and 0 J for
    every monitored device."""
    energy = {d.label: 0.0 for d in devices}
    by_kind = {"gpu": {}, "cpu": {}, "dram": {}}
    for d in devices:
        attr = _KIND_ATTR.get(d.kind)
        if attr in by_kind:
            by_kind[attr][d.index] = 0.0
    return Measurement(
        name=name, time=0.0, start_time=0.0, energy=energy,
        quality={label: "exact" for label in energy},
        status={label: None for label in energy},
        gpu_energy=by_kind["gpu"], cpu_energy=by_kind["cpu"],
        dram_energy=by_kind["dram"], total_energy=0.0,
        energy_uncertainty=dict(energy),
        uncertainty=dict(by_kind["gpu"]),
        cpu_uncertainty=dict(by_kind["cpu"]),
        dram_uncertainty=dict(by_kind["dram"]))


def _spec_items(spec):
    return [item.strip() for item in spec.split("+") if item.strip()]


def _has_sim(spec):
    return spec is not None and any(
        item.lower().startswith("sim:") for item in _spec_items(spec))


def _name_bytes(name):
    if not isinstance(name, str):
        raise TypeError("joule: window name must be a str, not %s"
                        % type(name).__name__)
    if "\0" in name:
        raise InvalidArgumentError("window name %r contains a NUL character"
                                   % name)
    return name.encode("utf-8")


def _index_list(value, what):
    """Validates gpus=/cpus=: None, or an iterable of non-negative ints."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError("joule: %s must be a list of indices or None, not %s"
                        % (what, type(value).__name__))
    out = []
    for v in value:
        if isinstance(v, bool):
            raise TypeError("joule: %s holds %r; indices are ints"
                            % (what, v))
        if not isinstance(v, int):
            try:
                v = operator.index(v)  # numpy integers
            except TypeError:
                raise TypeError("joule: %s holds %r (%s); indices are ints"
                                % (what, v, type(v).__name__)) from None
        if v < 0:
            raise InvalidArgumentError("joule: %s holds %d; indices are >= 0"
                                       % (what, v))
        if v not in out:
            out.append(v)
    return out


def device_specs(gpus=None, cpus=None, devices=None):
    """The device specs to try, in order, for Monitor's arguments.

    Returns a list of spec strings (None = the library default, which is
    $JOULE_DEVICES or "all"). More than one spec means the first names a
    kind optionally (Zeus semantics: gpus=None / cpus=None = every device
    of that kind *if there is one*) and the next is the fallback without it.
    """
    gpus = _index_list(gpus, "gpus")
    cpus = _index_list(cpus, "cpus")
    if devices is not None and not isinstance(devices, str):
        raise TypeError("joule: devices must be a spec string such as "
                        "'gpu:0+cpu' or 'sim:2:h100', not %s"
                        % type(devices).__name__)
    if devices is not None and not devices.strip():
        raise InvalidArgumentError("joule: devices is an empty spec; use "
                                   "None for the default ('all')")
    if devices is None and gpus is None and cpus is None:
        return [None]
    required = [devices] if devices is not None else []
    if gpus:
        required.append("gpu:" + ",".join(map(str, gpus)))
    if cpus:
        required.append("cpu:" + ",".join(map(str, cpus)))
    optional = []
    if devices is None:
        if gpus is None:
            optional.append("gpu")
        if cpus is None:
            optional.append("cpu")
    specs = []
    if optional:
        specs.append("+".join(required + optional))
    if required:
        specs.append("+".join(required))
    if not specs:  # gpus=[] and cpus=[] and no devices
        raise InvalidArgumentError("joule: gpus=[] and cpus=[] select no "
                                   "devices to measure")
    return specs


_COLUMN_PREFIX = {_lib.KIND_GPU: "gpu", _lib.KIND_CPU: "cpu",
                  _lib.KIND_DRAM: "dram", _lib.KIND_PSYS: "psys",
                  _lib.KIND_CORE: "core", _lib.KIND_UNCORE: "uncore"}


class _WindowLog:
    """libjoule's window log (docs/measurement.md, "The window log"),
    written in Python for a monitor narrowed to some of its context's
    devices: the same CSV (Zeus's columns, then the uncertainties) or JSON
    lines, the same rule for appending to an existing file."""

    def __init__(self, path, fmt, devices):
        self.path, self.fmt = path, fmt
        self.devices = list(devices)
        # columns: by kind, then context order (as libjoule)
        self.cols = sorted(self.devices, key=lambda d: (d.kind, d.position))
        self.uncertainty = True
        self._lock = threading.Lock()
        f = open(path, "a+", encoding="utf-8", newline="")
        try:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if fmt == "csv":
                header, zeus = self._header(True), self._header(False)
                if size > 0:
                    f.seek(0)
                    first = f.readline().rstrip("\r\n")
                    if first == zeus:
                        self.uncertainty = False
                    elif first != header:
                        raise InvalidArgumentError(
                            "window log '%s' already holds rows for other "
                            "devices (its header is '%s', this run's is "
                            "'%s'); use another file" % (path, first, header))
                else:
                    f.write(header + "\n")
            if size > 0:
                f.seek(size - 1)
                if f.read(1) != "\n":
                    f.seek(0, os.SEEK_END)
                    f.write("\n")
            f.flush()
        except BaseException:
            f.close()
            raise
        self._f = f

    def _header(self, uncertainty):
        cols = ["start_time", "window_name", "elapsed_time"]
        for suffix in ("",) + (("_uncertainty_j",) if uncertainty else ()):
            cols += ["%s%d_energy%s" % (_COLUMN_PREFIX[d.kind], d.index, suffix)
                     for d in self.cols]
        return ",".join(cols)

    def write(self, m):
        if self.fmt == "csv":
            name = m.name
            if any(c in name for c in ',"\r\n'):
                name = '"%s"' % name.replace('"', '""')
            parts = ["%.6f" % m.start_time, name, "%.9g" % m.time]
            for table in (m.energy,) + ((m.energy_uncertainty,)
                                        if self.uncertainty else ()):
                for d in self.cols:
                    parts.append("nan" if m.status[d.label] else
                                 "%.6f" % table[d.label])
            line = ",".join(parts)
        else:
            import json
            devs = {}
            for d in self.devices:
                bad = m.status[d.label] is not None
                entry = {"energy_j": None if bad else m.energy[d.label],
                         "energy_uncertainty_j": None if bad else
                         m.energy_uncertainty[d.label],
                         "quality": m.quality[d.label]}
                if bad:
                    entry["error"] = m.status[d.label]
                devs[d.label] = entry
            line = json.dumps({"start_time_unix_s": m.start_time,
                               "window_name": m.name,
                               "elapsed_time_s": m.time, "devices": devs,
                               "total_energy_j": m.total_energy},
                              separators=(",", ":"))
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()

    def close(self):
        self._f.close()


class Window:
    """``monitor.window(name)``: a context manager and a decorator.

    ``with monitor.window("step") as w: ...`` begins the window on entry and
    ends it on exit, leaving the result in ``w.measurement``. If the block
    raises, the window is cancelled (nothing is measured or logged) and the
    exception propagates. As a decorator, every call of the function is one
    window; the latest result is in ``w.measurement`` (and the function's
    ``.measurement``) and ``on_end(measurement)`` is called after each.
    """

    def __init__(self, monitor, name, sync=True, restart=False, on_end=None):
        _name_bytes(name)
        if on_end is not None and not callable(on_end):
            raise TypeError("joule: on_end must be callable")
        self.monitor = monitor
        self.name = name
        self.sync = sync
        self.restart = restart
        self.on_end = on_end
        self.measurement = None

    def _begin(self):
        self.monitor.begin_window(self.name, sync=self.sync,
                                  restart=self.restart)

    def _end(self):
        m = self.monitor.end_window(self.name, sync=self.sync)
        self.measurement = m
        if self.on_end is not None:
            self.on_end(m)
        return m

    def _cancel(self):
        try:
            self.monitor.end_window(self.name, cancel=True)
        except Exception:  # already gone: keep the original exception
            pass

    def __enter__(self):
        self._begin()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._cancel()
            return False
        self._end()
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb):
        return self.__exit__(exc_type, exc, tb)

    def __call__(self, fn):
        if not callable(fn):
            raise TypeError("joule: monitor.window(...) decorates a callable")
        window = self

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args, **kwargs):
                window._begin()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException:
                    window._cancel()
                    raise
                async_wrapper.measurement = window._end()
                return result
            async_wrapper.measurement = None
            async_wrapper.window = window
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            window._begin()
            try:
                result = fn(*args, **kwargs)
            except BaseException:
                window._cancel()
                raise
            wrapper.measurement = window._end()
            return result
        wrapper.measurement = None
        wrapper.window = window
        return wrapper

    def __repr__(self):
        return "Window(%r)" % self.name


class Monitor:
    """Measures time and energy of named windows on GPUs, CPUs and DRAM.

    ``Monitor(gpus=None, cpus=None, devices=None, sync="auto",
    log_file=None)``; ``gpu_indices`` / ``cpu_indices`` are accepted as
    Zeus's names for ``gpus`` / ``cpus``, ``sync_execution_with`` for
    ``sync``.

    Devices (see docs/python.md):

    - nothing given: the library default, ``$JOULE_DEVICES`` or ``"all"``.
    - ``gpus=[0, 1]`` / ``cpus=[0]``: exactly those (absent ones are an
      error); ``[]``: none of that kind; ``None`` next to a given list:
      every device of that kind, if there is any (like Zeus).
    - ``devices="sim:2:h100"``: a raw libjoule spec; with it, ``gpus`` /
      ``cpus`` lists are added to the spec and ``None`` adds nothing.

    ``log_file`` appends one row per ended window (CSV in Zeus's format, or
    JSON lines when ``log_format="jsonl"`` or the name ends in ``.jsonl``).
    ``approx_instant_energy`` is Zeus's flag: joule always estimates a
    window shorter than a counter's update period (power x time, quality
    ``"below_resolution"``) instead of reporting 0; ``True`` or unset
    (``None``) just does that, ``False`` also warns (``UserWarning``) at
    each such window, where Zeus would have reported 0 and warned.
    ``sysfs_root`` moves the RAPL backend's ``/sys`` (for tests).
    ``edge_correction=False`` reports plain counter differences, as Zeus
    does (default: each window edge at its true instant; see
    docs/measurement.md).
    ``reduce="job"``: under ``torch.distributed``, every rank must end each
    window (a collective), and ``end_window`` returns the job's totals on
    every rank: each host's devices counted once (by UUID), time from the
    earliest begin to the latest end, energies labelled ``"n<node>.gpu0"``
    and the per-host figures in ``Measurement.nodes`` (docs/cluster.md).

    Thread-safe: any thread may begin or end any window. ``close()`` (or
    leaving ``with Monitor(...) as m:``) releases the devices; it waits for
    calls in flight on other threads.
    """

    def __init__(self, gpus=None, cpus=None, devices=None, sync="auto",
                 log_file=None, *, gpu_indices=None, cpu_indices=None,
                 sync_execution_with=None, log_format=None, sysfs_root=None,
                 keeper_interval_ms=None, approx_instant_energy=None,
                 edge_correction=None, reduce=None):
        self._ctx = None
        self._fastw = None
        self._lock = threading.Condition(threading.Lock())
        self._inflight = 0
        self._waiters = 0  # threads in _wait_idle, to notify
        self._closed = False
        self._on_close = []  # run before joule_close (e.g. PowerMonitor)

        if gpu_indices is not None:
            if gpus is not None:
                raise TypeError("joule: pass gpus or gpu_indices, not both")
            gpus = gpu_indices
        if cpu_indices is not None:
            if cpus is not None:
                raise TypeError("joule: pass cpus or cpu_indices, not both")
            cpus = cpu_indices
        if sync_execution_with is not None:
            if sync != "auto":
                raise TypeError("joule: pass sync or sync_execution_with, "
                                "not both")
            sync = sync_execution_with
        if not (sync is None or isinstance(sync, (str, bool)) or
                callable(sync)):
            raise TypeError("joule: sync must be a string, None or a "
                            "callable, not %s" % type(sync).__name__)
        if isinstance(sync, str) and sync not in ("auto", "cuda") + \
                _sync.FRAMEWORKS:
            raise ValueError("joule: unknown sync %r; use 'auto', 'torch', "
                             "'jax', 'cupy', 'cuda', None or a callable"
                             % (sync,))
        if log_file is not None:
            log_file = os.fspath(log_file)
            if isinstance(log_file, bytes):
                log_file = os.fsdecode(log_file)
            if log_format is None:
                log_format = ("jsonl" if log_file.endswith((".jsonl", ".json"))
                              else "csv")
        if log_format not in (None, "csv", "jsonl"):
            raise ValueError("joule: log_format must be 'csv' or 'jsonl', "
                             "not %r" % (log_format,))
        if sysfs_root is not None:
            sysfs_root = os.fsdecode(os.fspath(sysfs_root))
        if approx_instant_energy is not None and \
                not isinstance(approx_instant_energy, bool):
            raise TypeError("joule: approx_instant_energy must be True, False "
                            "or None, not %s"
                            % type(approx_instant_energy).__name__)
        #: Zeus's flag as given (None: unset); see the class docstring.
        self.approx_instant_energy = approx_instant_energy
        if edge_correction is not None and not isinstance(edge_correction, bool):
            raise TypeError("joule: edge_correction must be True, False or "
                            "None, not %s" % type(edge_correction).__name__)
        self._edge_correction = edge_correction
        if reduce not in (None, "job"):
            raise ValueError("joule: reduce must be None or 'job', not %r"
                             % (reduce,))
        self._reduce = reduce
        if keeper_interval_ms is not None and (
                isinstance(keeper_interval_ms, bool) or
                not isinstance(keeper_interval_ms, int)):
            raise TypeError("joule: keeper_interval_ms must be an int")

        specs = device_specs(gpus, cpus, devices)
        self._sync_choice = sync
        self._visible = None  # None: every device of the context
        self._pylog = None    # a window log written here (narrowed)
        self._windows = set()  # names this object began and has not ended
        self._windows_lock = threading.Lock()
        base = devices
        if base is None and (gpus is not None or cpus is not None):
            env = os.environ.get("JOULE_DEVICES")
            if _has_sim(env):
                base = env.strip()
        if base is not None and (gpus is not None or cpus is not None):
            self.spec = self._open_narrowed(
                base, _index_list(gpus, "gpus"), _index_list(cpus, "cpus"),
                (log_file, log_format, sysfs_root, keeper_interval_ms))
            return
        for n, spec in enumerate(specs):
            try:
                self._ctx = self._open(spec, log_file, log_format,
                                       sysfs_root, keeper_interval_ms)
                break
            except DeviceNotFoundError:
                # A kind asked for optionally is absent: try without it.
                # The last spec holds only what was required; its error
                # is the one to report.
                if n == len(specs) - 1:
                    raise
        self.spec = spec if spec is not None else (
            os.environ.get("JOULE_DEVICES") or "all")
        # Windows through joule._fast when it loaded (see _fastpath).
        self._fastw = None
        if _fast is not None:
            self._fastw = _fast.Windows(
                self._ctx.value, tuple(d.label for d in self._devices),
                tuple(d.kind if d.kind in _FAST_KINDS else -1
                      for d in self._devices),
                tuple(d.index for d in self._devices), self._windows,
                self._sync_fn)

    # -- opening ---------------------------------------------------------

    def _open_narrowed(self, base, gpus, cpus, args):
        """``devices=`` (or a simulated ``$JOULE_DEVICES``) with index lists:
        each list picks among the devices of its kind that the spec opens
        (it never adds any), and an index the spec does not have is an
        error naming the ones it has. A kind the spec has none of is added
        from the list, as without a spec (``cpus=[0]`` next to
        ``sim:2:h100``). Returns the spec opened."""
        kinds = ((_lib.KIND_GPU, gpus, "gpu"), (_lib.KIND_CPU, cpus, "cpu"))
        log_file, log_format = args[0], args[1]
        args = (None, None) + tuple(args[2:])  # the log: once it is known
        self._ctx = self._open(base, *args)
        keep, extra = {}, []
        for kind, wanted, word in kinds:
            if wanted is None:
                continue
            have = sorted({d.index for d in self._devices if d.kind == kind})
            if not have:
                if wanted:
                    extra.append("%s:%s" % (word, ",".join(map(str, wanted))))
                continue
            missing = [i for i in wanted if i not in have]
            if missing:
                lib.joule_close(self._ctx)
                self._ctx = None
                raise DeviceNotFoundError(
                    "joule: %s%d not found: the devices %r select %s "
                    "(%s_indices index into those)"
                    % (word, missing[0], base, ", ".join(
                        "%s%d" % (word, i) for i in have), word))
            keep[kind] = wanted
        spec = "+".join([self._shrunk_sim(base, keep.get(_lib.KIND_GPU))]
                        + extra)
        if spec != base:
            lib.joule_close(self._ctx)
            self._ctx = None
            self._ctx = self._open(spec, *args)
        visible = []
        for d in self._devices:
            if d.kind == _lib.KIND_GPU:
                ok = _lib.KIND_GPU not in keep or d.index in keep[_lib.KIND_GPU]
            elif d.kind in (_lib.KIND_CPU, _lib.KIND_DRAM, _lib.KIND_CORE,
                            _lib.KIND_UNCORE):
                ok = _lib.KIND_CPU not in keep or d.index in keep[_lib.KIND_CPU]
            else:
                ok = _lib.KIND_CPU not in keep
            if ok:
                visible.append(d)
        if not visible:
            lib.joule_close(self._ctx)
            self._ctx = None
            raise InvalidArgumentError(
                "joule: gpus=%r and cpus=%r select none of the devices %r "
                "opens" % (gpus, cpus, base))
        if len(visible) == len(self._devices):
            if log_file is not None:  # libjoule writes it, as usual
                lib.joule_close(self._ctx)
                self._ctx = None
                self._ctx = self._open(spec, log_file, log_format, *args[2:])
            return spec
        self._visible = tuple(visible)
        try:
            real = [d.index for d in visible
                    if d.kind == _lib.KIND_GPU and not d.simulated]
            self._sync_fn, _ = _sync.resolve(self._sync_choice, real)
            if log_file is not None:
                # The context holds devices not asked for: the log is
                # written here, with the selected devices' columns only.
                self._pylog = _WindowLog(log_file, log_format or "csv",
                                         self._visible)
        except BaseException:
            lib.joule_close(self._ctx)
            self._ctx = None
            raise
        return spec

    def _shrunk_sim(self, base, gpus):
        """``base`` with its one ``sim:N:...`` item cut to the GPUs up to the
        highest index wanted, when every GPU opened is simulated: then the
        context holds no GPU that is not asked for (``sim:4:h100`` with
        ``gpu_indices=[0]`` opens ``sim:1:h100``)."""
        if not gpus:
            return base
        items = _spec_items(base)
        sims = [i for i, item in enumerate(items)
                if item.lower().startswith("sim:")]
        gpu_devs = [d for d in self._devices if d.kind == _lib.KIND_GPU]
        if len(sims) != 1 or any(not d.simulated for d in gpu_devs):
            return base
        parts = items[sims[0]].split(":", 2)
        if len(parts) != 3 or not parts[1].strip().isdigit():
            return base
        count = int(parts[1])
        if sorted(d.index for d in gpu_devs) != list(range(count)):
            return base
        need = max(gpus) + 1
        if need >= count:
            return base
        items[sims[0]] = "%s:%d:%s" % (parts[0], need, parts[2])
        return "+".join(items)

    def _open(self, spec, log_file, log_format, sysfs_root, keeper_ms):
        opts = c_void_p()
        check(lib.joule_options_create(byref(opts)))
        try:
            if spec is not None:
                check(lib.joule_options_set_devices(opts, spec.encode()))
            if sysfs_root is not None:
                check(lib.joule_options_set_sysfs_root(
                    opts, sysfs_root.encode()))
            if log_file is not None:
                fmt = _lib.LOG_JSONL if log_format == "jsonl" else _lib.LOG_CSV
                check(lib.joule_options_set_log(opts, os.fsencode(log_file),
                                                fmt))
            if keeper_ms is not None:
                check(lib.joule_options_set_keeper_interval_ms(opts,
                                                               keeper_ms))
            if self._edge_correction is not None:
                check(lib.joule_options_set_edge_correction(
                    opts, int(self._edge_correction)))
            # "cuda" is libjoule's built-in sync; the others run here, in
            # Python, just before each window edge's C call (no C-to-Python
            # callback: that would cost a GIL round trip per edge).
            if self._sync_choice == "cuda":
                check(lib.joule_options_set_cuda_sync(opts, 1))
            ctx = c_void_p()
            check(lib.joule_open(opts, byref(ctx)))
        finally:
            lib.joule_options_destroy(opts)
        try:
            self._devices = self._read_devices(ctx)
            real = [d.index for d in self._devices
                    if d.kind == _lib.KIND_GPU and not d.simulated]
            self._sync_fn, _ = _sync.resolve(self._sync_choice, real)
        except BaseException:
            lib.joule_close(ctx)
            raise
        return ctx

    @staticmethod
    def _read_devices(ctx):
        out = []
        for i in range(lib.joule_device_count(ctx)):
            d = lib.joule_device_at(ctx, i)
            out.append(Device(
                position=i,
                label=decode(lib.joule_device_label(d)),
                kind=lib.joule_device_kind(d),
                index=lib.joule_device_index(d),
                name=decode(lib.joule_device_name(d)),
                backend=decode(lib.joule_device_backend(d)),
                uuid=decode(lib.joule_device_uuid(d)),
                caps=lib.joule_device_caps(d),
                energy_resolution_uj=lib.joule_device_energy_resolution_uj(d),
                update_period_us=lib.joule_device_update_period_us(d),
                note=decode(lib.joule_device_note(d))))
        return tuple(out)

    # -- lifetime --------------------------------------------------------

    def _acquire(self):
        with self._lock:
            if self._ctx is None:
                raise InvalidArgumentError("joule: the monitor is closed")
            self._inflight += 1
            return self._ctx

    def _release(self):
        with self._lock:
            self._inflight -= 1
            if self._inflight == 0 and self._waiters:
                self._lock.notify_all()

    def _wait_idle(self):
        """With self._lock held: waits until no call is in flight."""
        self._waiters += 1
        try:
            while self._inflight:
                self._lock.wait()
        finally:
            self._waiters -= 1

    def close(self):
        """Releases the devices (open windows are discarded). Idempotent;
        waits for calls in progress on other threads."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            ctx, self._ctx = self._ctx, None
            fastw, self._fastw = self._fastw, None
            self._wait_idle()
            hooks, self._on_close = self._on_close, []
        if fastw is not None:
            fastw.close()  # waits for its windows in flight
        if ctx is not None:
            for hook in hooks:
                hook(ctx)
            lib.joule_close(ctx)
            if self._pylog is not None:
                self._pylog.close()

    def _add_close_hook(self, hook):
        with self._lock:
            if self._ctx is None:
                raise InvalidArgumentError("joule: the monitor is closed")
            self._on_close.append(hook)

    def _run_close_hook_now(self, hook):
        """Runs a close hook early (e.g. PowerMonitor.close()), once no call
        is in flight; no-op if the monitor already ran it."""
        with self._lock:
            self._wait_idle()
            if hook not in self._on_close:
                return
            self._on_close.remove(hook)
            hook(self._ctx)

    @property
    def closed(self):
        return self._ctx is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # -- devices ---------------------------------------------------------

    @property
    def devices(self):
        """The monitored devices, in the library's order (tuple of Device)."""
        return self._devices if self._visible is None else self._visible

    @property
    def gpu_indices(self):
        return [d.index for d in self.devices if d.kind == _lib.KIND_GPU]

    @property
    def cpu_indices(self):
        return [d.index for d in self.devices if d.kind == _lib.KIND_CPU]

    def learn_timing(self, max_seconds=1.0):
        """Reads every device densely until each energy counter's update
        timing is learned (at most ``max_seconds``): the first windows
        after opening then get their tightest uncertainty at once."""
        ctx = self._acquire()
        try:
            check(lib.joule_learn_timing(ctx, float(max_seconds)))
        finally:
            self._release()

    # -- windows ---------------------------------------------------------

    def begin_window(self, name, sync=True, restart=False, *,
                     sync_execution=None):
        """Opens window ``name``. ``sync=False`` skips the sync hook at this
        edge; ``restart=True`` replaces an open window of that name.
        Raises AlreadyExistsError (a ValueError) if it is already open."""
        fastw = self._fastw
        if fastw is not None:  # joule._fast: the sync hook, begin, the name
            return fastw.begin(name, sync if sync_execution is None
                               else sync_execution, restart)
        if sync_execution is not None:
            sync = sync_execution
        b = _name_bytes(name)
        flags = (0 if sync else _lib.WINDOW_NO_SYNC) | \
            (_lib.WINDOW_RESTART if restart else 0)
        ctx = self._acquire()
        try:
            if sync and self._sync_fn is not None:
                self._sync_fn()  # raises before the window exists
            rc = lib.joule_window_begin(ctx, b, flags)
            if rc < 0:
                raise error_for(rc, _lib.last_error())
            with self._windows_lock:
                self._windows.add(name)
        finally:
            self._release()

    def end_window(self, name, sync=True, cancel=False, *,
                   sync_execution=None):
        """Closes window ``name`` and returns its Measurement, or with
        ``cancel=True`` discards it and returns an empty Measurement (time
        0, 0 J for every monitored device), as Zeus does. Raises
        NotFoundError (a ValueError) if no window of that name is open.
        With ``reduce="job"`` every rank must call it, and it returns the
        job's totals (see the class docstring)."""
        fastw = self._fastw
        if fastw is not None and not cancel and self._reduce is None and \
                self.approx_instant_energy is not False:
            return fastw.end(name, sync if sync_execution is None
                             else sync_execution)
        if self._reduce != "job" or cancel:
            m = self._end_window(name, sync, cancel, sync_execution)
            if not cancel and self.approx_instant_energy is False:
                _warn_estimated(m)  # stacklevel: end_window's caller
            return m
        from . import _job
        try:
            m, error = self._end_window(name, sync, False, sync_execution), None
        except Exception as ex:  # the other ranks must still hear of it
            m, error = None, ex
        if m is not None and self.approx_instant_energy is False:
            _warn_estimated(m)
        shown = self._devices if self._visible is None else self._visible
        return _job.reduce_job(name, m, shown, error)

    def _end_window(self, name, sync, cancel, sync_execution):
        if sync_execution is not None:
            sync = sync_execution
        fastw = self._fastw
        if fastw is not None and not cancel:
            return fastw.end(name, sync)
        b = _name_bytes(name)
        ctx = self._acquire()
        try:
            if cancel:
                try:
                    check(lib.joule_window_cancel(ctx, b))
                finally:
                    self._forget(name)
                return _empty_measurement(name, self.devices)
            self._forget(name)
            if sync and self._sync_fn is not None:
                try:
                    self._sync_fn()
                except BaseException:
                    lib.joule_window_cancel(ctx, b)  # unmeasurable now
                    raise
            r = c_void_p()
            flags = 0 if sync else _lib.WINDOW_NO_SYNC
            rc = lib.joule_window_end(ctx, b, flags, byref(r))
            err = _lib.last_error() if rc < 0 else None
            m = None
            if r.value:
                try:
                    m = _from_result(r, self._devices, name, self._visible)
                finally:
                    lib.joule_result_free(r)
            if rc < 0:
                e = error_for(rc, err)
                e.measurement = m  # e.g. the log write failed: still measured
                raise e
            if self._pylog is not None and m is not None:
                try:
                    self._pylog.write(m)
                except OSError as ex:
                    e = error_for(-6, "cannot write window log '%s': %s"
                                  % (self._pylog.path, ex))
                    e.measurement = m
                    raise e from ex
        finally:
            self._release()
        return m

    def _forget(self, name):
        with self._windows_lock:
            self._windows.discard(name)

    def reset_windows(self):
        """Cancels every window this monitor began and has not ended
        (Zeus's ``reset_windows``); their measurements are lost. Windows
        other objects opened on the same devices (an optimizer's) stay."""
        with self._windows_lock:  # the set joule._fast adds to, too
            names = sorted(self._windows)
            self._windows.difference_update(names)
        ctx = self._acquire()
        try:
            for name in names:
                lib.joule_window_cancel(ctx, name.encode("utf-8"))
        finally:
            self._release()

    @property
    def fast(self):
        """Whether windows go through joule._fast (C) rather than ctypes."""
        return self._fastw is not None

    def window(self, name, sync=True, restart=False, on_end=None):
        """A Window for ``with monitor.window(name):`` or
        ``@monitor.window(name)``."""
        return Window(self, name, sync=sync, restart=restart, on_end=on_end)

    def open_window_count(self):
        ctx = self._acquire()
        try:
            return check(lib.joule_window_open_count(ctx))
        finally:
            self._release()

    # -- direct reads ----------------------------------------------------

    def energy(self):
        """``{label: joules}`` consumed by each device since the monitor
        opened (wrap-corrected cumulative counter)."""
        ctx = self._acquire()
        try:
            out = {}
            j, q = c_double(), c_int()
            for d in self.devices:
                check(lib.joule_device_energy_j(ctx, d.position, byref(j),
                                                byref(q)))
                out[d.label] = j.value
            return out
        finally:
            self._release()

    def power(self):
        """``{label: watts}``: each device's current power (instant where
        the device has it, else average). Devices that cannot say are
        left out."""
        ctx = self._acquire()
        try:
            out = {}
            w = c_double()
            for d in self.devices:
                if lib.joule_device_power_w(ctx, d.position, byref(w)) == 0:
                    out[d.label] = w.value
            return out
        finally:
            self._release()

    def __repr__(self):
        if self._ctx is None:
            return "Monitor(closed)"
        return "Monitor(%s)" % ", ".join(d.label for d in self.devices)


def _warn_estimated(m):
    """approx_instant_energy=False: says which devices' energy was
    estimated because the window was shorter than their counter period."""
    short = [label for label, q in m.quality.items()
             if q == "below_resolution"]
    if short:
        warnings.warn(
            "joule: window %r (%.6f s) was shorter than the energy counter's "
            "update period of %s; its energy there is estimated as power x "
            "time (quality 'below_resolution'), not reported as 0. Pass "
            "approx_instant_energy=True (or leave it unset) to accept the "
            "estimate silently." % (m.name, m.time, ", ".join(short)),
            UserWarning, stacklevel=3)


def _sim_call(monitor, fn, *args):
    ctx = monitor._acquire()
    try:
        return check(fn(ctx, *args))
    finally:
        monitor._release()



# joule.h's kinds that Measurement splits out: GPU, CPU package, DRAM.
_FAST_KINDS = (_lib.KIND_GPU, _lib.KIND_CPU, _lib.KIND_DRAM)
#: joule._fast bound to the loaded library, or None (ctypes path).
_fast = _fastpath.load(Measurement)
#: Zeus's name (zeus.monitor.ZeusMonitor).
ZeusMonitor = Monitor
