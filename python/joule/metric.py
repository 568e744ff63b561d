"""joule.metric: Zeus's Prometheus metrics (``zeus.metric``), pushed to a
Pushgateway with the standard library (no prometheus_client needed).

* :class:`EnergyHistogram` -- one observation per window and device:
  ``energy_monitor_{gpu,cpu,dram}_energy_joules`` histograms.
* :class:`EnergyCumulativeCounter` -- while a window is open, the energy of
  every ``update_period`` is added to ``energy_monitor_*_energy_joules``
  counters (exposed as ``..._total``).
* :class:`PowerGauge` -- while a window is open, each GPU's power every
  ``update_period`` in the ``power_monitor_gpu_power_watts`` gauge.

Labels are ``window`` and ``index``, as in Zeus. Each push replaces the
job's group on the gateway (HTTP PUT to ``<url>/metrics/job/<job>``, what
``prometheus_client.push_to_gateway`` does). Zeus runs a process per
window; joule runs a thread (libjoule's calls release the GIL).
"""

import math
import threading
import urllib.parse
import urllib.request
import warnings

from .monitor import Monitor

__all__ = ["EnergyHistogram", "EnergyCumulativeCounter", "PowerGauge",
           "push_to_gateway", "Family"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(v):
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(x):
    if x == math.inf:
        return "+Inf"
    return repr(float(x))


class Family:
    """One metric family (histogram, counter or gauge) with labelled
    samples, rendered in Prometheus' text format."""

    def __init__(self, name, help_text, kind, buckets=None):
        self.name, self.help, self.kind = name, help_text, kind
        self.buckets = sorted(float(b) for b in buckets) + [math.inf] \
            if buckets is not None else None
        self._lock = threading.Lock()
        self._samples = {}  # labels tuple -> value / [counts, sum, count]

    def observe(self, labels, value):
        with self._lock:
            s = self._samples.setdefault(labels,
                                         [[0] * len(self.buckets), 0.0, 0])
            for i, b in enumerate(self.buckets):
                if value <= b:
                    s[0][i] += 1
            s[1] += value
            s[2] += 1

    def inc(self, labels, value):
        if value < 0:
            raise ValueError("joule: a counter only goes up")
        with self._lock:
            self._samples[labels] = self._samples.get(labels, 0.0) + value

    def set(self, labels, value):
        with self._lock:
            self._samples[labels] = float(value)

    def value(self, labels):
        with self._lock:
            return self._samples.get(labels)

    def render(self, label_names=("window", "index")):
        def lab(labels, extra=()):
            pairs = list(zip(label_names, labels)) + list(extra)
            return "{%s}" % ",".join('%s="%s"' % (k, _escape(v))
                                     for k, v in pairs)
        out = ["# HELP %s %s" % (self.name, self.help),
               "# TYPE %s %s" % (self.name, self.kind)]
        with self._lock:
            items = sorted(self._samples.items(), key=lambda kv: str(kv[0]))
            for labels, s in items:
                if self.kind == "histogram":
                    for b, c in zip(self.buckets, s[0]):
                        out.append("%s_bucket%s %d" % (
                            self.name, lab(labels, [("le", _fmt(b))]), c))
                    out.append("%s_sum%s %s" % (self.name, lab(labels),
                                                _fmt(s[1])))
                    out.append("%s_count%s %d" % (self.name, lab(labels),
                                                  s[2]))
                elif self.kind == "counter":
                    out.append("%s_total%s %s" % (self.name, lab(labels),
                                                  _fmt(s)))
                else:
                    out.append("%s%s %s" % (self.name, lab(labels), _fmt(s)))
        return "\n".join(out) + "\n"


def push_to_gateway(url, job, families, timeout=10.0):
    """PUTs the families to ``<url>/metrics/job/<job>`` (``url`` may omit
    ``http://``). Raises OSError (urllib's errors) when the push fails."""
    if "://" not in url:
        url = "http://" + url
    target = "%s/metrics/job/%s" % (url.rstrip("/"),
                                    urllib.parse.quote(str(job), safe=""))
    body = "".join(f.render() for f in families).encode("utf-8")
    req = urllib.request.Request(target, data=body, method="PUT",
                                 headers={"Content-Type": CONTENT_TYPE})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        r.read()


def _url(pushgateway_url, prometheus_url, job):
    """Zeus's code says pushgateway_url, its docs prometheus_url."""
    if pushgateway_url is not None and prometheus_url is not None:
        raise TypeError("joule: pass pushgateway_url or prometheus_url, "
                        "not both")
    url = pushgateway_url if pushgateway_url is not None else prometheus_url
    if url is None or job is None:
        raise TypeError("joule: a Pushgateway URL and a job are needed")
    return url


def _monitor(cpu_indices, gpu_indices, devices, monitor):
    if monitor is not None:
        return monitor, False
    return Monitor(cpu_indices=cpu_indices, gpu_indices=gpu_indices,
                   devices=devices), True


class _Metric:
    def close(self):
        if getattr(self, "_owns", False):
            self.energy_monitor.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class EnergyHistogram(_Metric):
    """Zeus's ``EnergyHistogram(cpu_indices, gpu_indices, pushgateway_url,
    job, gpu_bucket_range=..., cpu_bucket_range=..., dram_bucket_range=...)``:
    ``end_window`` observes each device's energy and pushes."""

    def __init__(self, cpu_indices, gpu_indices, pushgateway_url=None,
                 job=None,
                 gpu_bucket_range=(50.0, 100.0, 200.0, 500.0, 1000.0),
                 cpu_bucket_range=(10.0, 50.0, 100.0, 500.0, 1000.0),
                 dram_bucket_range=(5.0, 10.0, 20.0, 50.0, 150.0), *,
                 devices=None, monitor=None, prometheus_url=None):
        pushgateway_url = _url(pushgateway_url, prometheus_url, job)
        for what, r in (("GPU", gpu_bucket_range), ("CPU", cpu_bucket_range),
                        ("DRAM", dram_bucket_range)):
            if not r:
                raise ValueError(
                    "%s bucket range cannot be empty. Please provide a valid "
                    "range or omit the argument to use defaults." % what)
        self.pushgateway_url, self.job = pushgateway_url, job
        self.energy_monitor, self._owns = _monitor(cpu_indices, gpu_indices,
                                                   devices, monitor)
        self.gpu_indices = self.energy_monitor.gpu_indices
        self.cpu_indices = self.energy_monitor.cpu_indices
        self.ranges = {"gpu": list(gpu_bucket_range),
                       "cpu": list(cpu_bucket_range),
                       "dram": list(dram_bucket_range)}
        self.families = {}
        kinds = {d.kind_name for d in self.energy_monitor.devices}
        for kind in ("gpu", "cpu", "dram"):
            if kind in kinds:
                self.families[kind] = Family(
                    "energy_monitor_%s_energy_joules" % kind,
                    "%s energy consumption" % kind.upper(), "histogram",
                    self.ranges[kind])

    def begin_window(self, name, sync_execution=True):
        self.energy_monitor.begin_window("__EnergyHistogram_%s" % name,
                                         sync=sync_execution)

    def end_window(self, name, sync_execution=True):
        m = self.energy_monitor.end_window("__EnergyHistogram_%s" % name,
                                           sync=sync_execution)
        for kind, values in (("gpu", m.gpu_energy), ("cpu", m.cpu_energy),
                             ("dram", m.dram_energy)):
            fam = self.families.get(kind)
            if fam is None:
                continue
            lo, hi = min(self.ranges[kind]), max(self.ranges[kind])
            for index, e in values.items():
                if e > hi:
                    warnings.warn("%s %d energy %s exceeds the maximum bucket "
                                  "value of %s" % (kind.upper(), index, e, hi))
                elif e < lo:
                    warnings.warn("%s %d energy %s exceeds the minimum bucket "
                                  "value of %s" % (kind.upper(), index, e, lo))
                fam.observe((name, index), e)
        push_to_gateway(self.pushgateway_url, self.job,
                        list(self.families.values()))
        return m


class _Periodic(_Metric):
    """A thread per open window, doing ``tick(name)`` every update_period
    and once more at the end, then pushing."""

    def _start(self, name):
        if name in self._threads:
            raise ValueError("%s metric '%s' already exists."
                             % (type(self).__name__, name))
        stop = threading.Event()
        t = threading.Thread(target=self._loop, args=(name, stop),
                             daemon=True, name="joule-metric-%s" % name)
        self._threads[name] = (t, stop)
        self._begin(name)
        t.start()

    def _stop(self, name):
        try:
            t, stop = self._threads.pop(name)
        except KeyError:
            raise ValueError("No active monitoring process found for '%s'."
                             % name) from None
        stop.set()
        t.join()
        self._tick(name, final=True)
        self._push()

    def _loop(self, name, stop):
        while not stop.wait(self.update_period):
            try:
                self._tick(name)
                self._push()
            except Exception as e:  # noqa: BLE001 - as Zeus: report, go on
                warnings.warn("joule.metric: %s: %s" % (type(e).__name__, e))

    def _push(self):
        push_to_gateway(self.pushgateway_url, self.job, self._families())

    def _begin(self, name):
        pass


class EnergyCumulativeCounter(_Periodic):
    """Zeus's ``EnergyCumulativeCounter(cpu_indices, gpu_indices,
    update_period, pushgateway_url, job)``."""

    def __init__(self, cpu_indices, gpu_indices, update_period,
                 pushgateway_url=None, job=None, *, devices=None, monitor=None,
                 prometheus_url=None):
        pushgateway_url = _url(pushgateway_url, prometheus_url, job)
        self.update_period = float(update_period)
        self.pushgateway_url, self.job = pushgateway_url, job
        self.energy_monitor, self._owns = _monitor(cpu_indices, gpu_indices,
                                                   devices, monitor)
        self.gpu_indices = self.energy_monitor.gpu_indices
        self.cpu_indices = self.energy_monitor.cpu_indices
        kinds = {d.kind_name for d in self.energy_monitor.devices}
        self.families = {k: Family("energy_monitor_%s_energy_joules" % k,
                                   "%s energy consumption" % k.upper(),
                                   "counter")
                         for k in ("gpu", "cpu", "dram") if k in kinds}
        self._threads = {}
        self._lock = threading.Lock()

    def _families(self):
        return list(self.families.values())

    def _key(self, name):
        return "__EnergyCumulativeCounter_%s" % name

    def _begin(self, name):
        self.energy_monitor.begin_window(self._key(name), sync=False)

    def _tick(self, name, final=False):
        with self._lock:
            m = self.energy_monitor.end_window(self._key(name), sync=False)
            if not final:
                self.energy_monitor.begin_window(self._key(name), sync=False)
        for kind, values in (("gpu", m.gpu_energy), ("cpu", m.cpu_energy),
                             ("dram", m.dram_energy)):
            fam = self.families.get(kind)
            if fam is not None:
                for index, e in values.items():
                    if e == e:
                        fam.inc((name, index), max(e, 0.0))

    def begin_window(self, name, sync_execution=False):
        self._start(name)

    def end_window(self, name, sync_execution=False):
        self._stop(name)


class PowerGauge(_Periodic):
    """Zeus's ``PowerGauge(gpu_indices, update_period, pushgateway_url,
    job)``."""

    def __init__(self, gpu_indices, update_period, pushgateway_url=None,
                 job=None, *, devices=None, monitor=None, prometheus_url=None):
        pushgateway_url = _url(pushgateway_url, prometheus_url, job)
        self.update_period = float(update_period)
        self.pushgateway_url, self.job = pushgateway_url, job
        self.energy_monitor, self._owns = _monitor([], gpu_indices, devices,
                                                   monitor)
        self.gpu_indices = self.energy_monitor.gpu_indices
        self.family = Family("power_monitor_gpu_power_watts",
                             "Records power consumption for GPU over time",
                             "gauge")
        self._threads = {}

    def _families(self):
        return [self.family]

    def _begin(self, name):
        self._tick(name)

    def _tick(self, name, final=False):
        power = self.energy_monitor.power()
        for d in self.energy_monitor.devices:
            if d.kind_name == "gpu" and d.label in power:
                self.family.set((name, d.index), power[d.label])

    def begin_window(self, name, sync_execution=False):
        self._start(name)

    def end_window(self, name, sync_execution=False):
        self._stop(name)
