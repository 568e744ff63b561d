"""Windows whose energy is split at UTC hour boundaries (the base of the
carbon and price monitors)."""

import math
import threading
import time
import weakref

from .. import hourly
from . import Monitor


def as_series(source, reader, unit):
    """An HourlySeries from a series, a constant, a file path, or a Zeus
    provider (``get_recent_carbon_intensity()`` -> {datetime: value})."""
    if isinstance(source, hourly.HourlySeries):
        return source
    if isinstance(source, (int, float)) and not isinstance(source, bool):
        return hourly.HourlySeries.const(source, unit)
    if isinstance(source, str) or hasattr(source, "__fspath__"):
        return reader(source)
    recent = getattr(source, "get_recent_carbon_intensity", None)
    if callable(recent):
        return hourly.HourlySeries(recent(), unit=unit, source=repr(source))
    raise TypeError("joule: expected an HourlySeries, a number, a file path "
                    "or a provider object, not %s" % type(source).__name__)


class SplitMeasurement:
    """What the carbon and price measurements share: energy in J per kind
    (Zeus's fields), ``missing_hours`` (UTC hours the series lacks; their
    energy is not in the result), ``energy_by_hour`` ({hour: {label: J}}),
    ``pue`` and ``measurement`` (the window's Measurement)."""

    def __init__(self, time, gpu_energy, cpu_energy, dram_energy,
                 missing_hours, energy_by_hour, pue, measurement):
        self.time = time
        self.gpu_energy = gpu_energy
        self.cpu_energy = cpu_energy
        self.dram_energy = dram_energy
        self.missing_hours = list(missing_hours)
        self.energy_by_hour = energy_by_hour or {}
        self.pue = pue
        self.measurement = measurement

    @property
    def complete(self):
        return not self.missing_hours


class SplitMonitor:
    """Measures windows like Monitor, and also the energy of each window in
    every UTC hour it spans: a background thread reads the cumulative
    counters at each hour boundary (``period_s``, 3600; tests shorten it).
    """

    def __init__(self, gpu_indices=None, cpu_indices=None,
                 sync_execution_with=None, *, devices=None, monitor=None,
                 pue=1.0, period_s=hourly.HOUR_S):
        if isinstance(pue, bool) or not isinstance(pue, (int, float)) or \
                not math.isfinite(pue) or pue < 1.0:
            raise ValueError("joule: pue must be a number >= 1, not %r"
                             % (pue,))
        self.pue = float(pue)
        if monitor is not None:
            self.monitor, self._owns = monitor, False
        else:
            self.monitor = Monitor(gpu_indices=gpu_indices,
                                   cpu_indices=cpu_indices, devices=devices,
                                   sync=sync_execution_with or "auto")
            self._owns = True
        self.period_s = float(period_s)
        self._lock = threading.Lock()
        self._open = {}        # key -> (t, cumulative) at begin
        self._readings = []    # (t, cumulative) at boundaries
        self._stop = threading.Event()
        # The thread holds only a weak reference, so an unclosed monitor
        # is still collected (and its thread then ends).
        self._thread = threading.Thread(
            target=SplitMonitor._run_weak,
            args=(weakref.ref(self), self._stop, self.period_s),
            daemon=True, name="joule-hour-split")
        self._thread.start()

    def _cumulative(self):
        return time.time(), self.monitor.energy()

    @staticmethod
    def _run_weak(ref, stop, period_s):
        while not stop.is_set():
            now = time.time()
            nxt = (math.floor(now / period_s) + 1) * period_s
            if stop.wait(max(nxt - now, 0.0)):
                return
            self = ref()
            if self is None:
                return
            if not self._boundary():
                return
            del self

    def _boundary(self):
        """At an hour boundary: one cumulative reading for the open
        windows. False when the monitor is gone."""
        with self._lock:
            if not self._open:
                self._readings.clear()
                return True
        try:
            reading = self._cumulative()
        except Exception:  # noqa: BLE001 - closed under us
            return False
        with self._lock:
            self._readings.append(reading)
            oldest = min(t for t, _ in self._open.values()) \
                if self._open else reading[0]
            self._readings = [r for r in self._readings if r[0] >= oldest]
        return True

    def begin_window(self, key, sync_execution=True):
        self.monitor.begin_window(key, sync=sync_execution)
        reading = self._cumulative()
        with self._lock:
            self._open[key] = reading

    def _end(self, key, sync_execution=True):
        """(Measurement, {hour: {label: J}}) of a window."""
        m = self.monitor.end_window(key, sync=sync_execution)
        end = self._cumulative()
        with self._lock:
            begin = self._open.pop(key, None)
            mids = [r for r in self._readings
                    if begin is not None and begin[0] < r[0] < end[0]]
        if begin is None:
            begin = (end[0] - m.time, {k: 0.0 for k in end[1]})
        by_hour = hourly.split_by_hour(begin[0], end[0],
                                       [begin] + mids + [end])
        # The window's own values are the more precise (edges at their
        # true instants): the hourly parts are scaled to sum to them.
        for label, total in m.energy.items():
            parts = [by_hour[h].get(label, 0.0) for h in by_hour]
            s = sum(parts)
            for h in by_hour:
                if s > 0:
                    by_hour[h][label] = by_hour[h].get(label, 0.0) * total / s
                else:
                    by_hour[h][label] = total / len(by_hour)
        if not by_hour:
            by_hour = {hourly.hour_of(end[0]): dict(m.energy)}
        return m, by_hour

    def _by_kind(self, totals):
        out = {"gpu": {}, "cpu": {}, "dram": {}}
        for d in self.monitor.devices:
            if d.kind_name in out and d.label in totals:
                out[d.kind_name][d.index] = totals[d.label]
        return out

    def close(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._owns:
            self.monitor.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self._stop.set()
        except Exception:  # noqa: BLE001
            pass
