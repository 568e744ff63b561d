"""joule.profile: Zeus's thermally stable energy profiling (``zeus.profile``).

Finds the measurement and cooldown durations that give low-variance
energy readings for a workload, and measures it once those are known:

* :func:`measure` -- one trial: cooldown, warmup, then enough iterations to
  fill ``measurement_duration``; energy and time per iteration.
* :func:`profile_measurement_duration` / :func:`profile_cooldown_duration`
  -- sweep one duration with the other fixed, ``num_trials`` trials each;
  a point is valid when the trials' energy per iteration has a standard
  deviation below ``trial_stddev_threshold`` joules.
* :func:`profile_parameters` -- both sweeps.

The energy is that of the monitor's GPUs (Zeus's ``total_energy``), summed
over ``torch.distributed`` ranks when a process group is initialised (time
maxed, temperatures averaged), as Zeus does. joule's window result also
carries an uncertainty; ``TrialResult.uncertainty`` is the bound on the
trial's energy.
"""

import math
import statistics
import time

from .framework import all_reduce, get_world_size

__all__ = ["TrialResult", "SweepResult", "SweepReport", "measure",
           "profile_measurement_duration", "profile_cooldown_duration",
           "profile_parameters"]

_DEFAULT_SEARCH_RANGE = [float(x) for x in range(1, 11)]


class _Record:
    _fields = ()

    def __init__(self, **kw):
        for f in self._fields:
            setattr(self, f, kw.get(f))

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (f, getattr(self, f)) for f in self._fields))


class TrialResult(_Record):
    """One trial: per-iteration and total energy (J) and time (s),
    iterations, mean GPU temperature before and after (°C)."""
    _fields = ("energy_per_iter", "time_per_iter", "total_energy",
               "total_time", "iterations", "temperature_before",
               "temperature_after", "uncertainty")


class SweepResult(_Record):
    """The trials of one sweep point and their statistics."""
    _fields = ("measurement_duration", "cooldown_duration", "trials",
               "energy_mean", "energy_std", "avg_temperature_before",
               "avg_temperature_after", "avg_total_time", "avg_total_energy",
               "is_valid")


class SweepReport(_Record):
    """``sweep_param`` (name, values), ``fixed_param`` (name, value) and
    one :class:`SweepResult` per value in ``entries``."""
    _fields = ("sweep_param", "fixed_param", "entries")

    def valid(self):
        """The entries whose energy spread is under the threshold."""
        return [e for e in self.entries if e.is_valid]


def _sync(monitor):
    fn = getattr(monitor, "_sync_fn", None)
    if fn is not None:
        fn()


def _temperature(monitor):
    from .device import GPUs
    gpus = GPUs(monitor, restore=False)
    temps = [gpus.get_gpu_temperature(i) for i in monitor.gpu_indices]
    if not temps:
        raise ValueError("joule.profile: the monitor has no GPUs")
    return sum(temps) / len(temps)


def _calibrate(target, monitor, warmup, calibration):
    for _ in range(warmup):
        target()
    _sync(monitor)
    t0 = time.monotonic()
    for _ in range(calibration):
        target()
    _sync(monitor)
    per = (time.monotonic() - t0) / max(calibration, 1)
    return all_reduce([per], "max")[0]


def _trial(target, monitor, cooldown, duration, warmup, per_iter):
    iterations = max(1, math.ceil(duration / max(per_iter, 1e-9)))
    if cooldown > 0:
        time.sleep(cooldown)
    for _ in range(warmup):
        target()
    _sync(monitor)
    before = _temperature(monitor)
    monitor.begin_window("__joule_profile_trial", sync=False)
    for _ in range(iterations):
        target()
    r = monitor.end_window("__joule_profile_trial")
    after = _temperature(monitor)
    energy = all_reduce([sum(r.gpu_energy.values())], "sum")[0]
    elapsed = all_reduce([r.time], "max")[0]
    tb, ta = all_reduce([before, after], "sum")
    n = get_world_size()
    return TrialResult(energy_per_iter=energy / iterations,
                       time_per_iter=elapsed / iterations,
                       total_energy=energy, total_time=elapsed,
                       iterations=iterations, temperature_before=tb / n,
                       temperature_after=ta / n,
                       uncertainty=sum(r.uncertainty.values()))


def _result(duration, cooldown, trials, threshold):
    e = [t.energy_per_iter for t in trials]
    n = len(trials)
    std = statistics.stdev(e) if n >= 2 else 0.0
    return SweepResult(
        measurement_duration=duration, cooldown_duration=cooldown,
        trials=trials, energy_mean=statistics.mean(e), energy_std=std,
        avg_temperature_before=sum(t.temperature_before for t in trials) / n,
        avg_temperature_after=sum(t.temperature_after for t in trials) / n,
        avg_total_time=sum(t.total_time for t in trials) / n,
        avg_total_energy=sum(t.total_energy for t in trials) / n,
        is_valid=std < threshold)


def _sweep(target, monitor, values, fixed, cooldown_sweep, num_trials,
           num_warmup_trials, threshold, warmup, per_iter):
    if num_trials < 1:
        raise ValueError("joule.profile: num_trials must be >= 1")
    for _ in range(num_warmup_trials):
        _trial(target, monitor, 0.0, fixed if cooldown_sweep else max(values),
               0, per_iter)
    entries = []
    for v in values:
        cooldown, duration = (v, fixed) if cooldown_sweep else (fixed, v)
        trials = [_trial(target, monitor, cooldown, duration, warmup, per_iter)
                  for _ in range(num_trials)]
        entries.append(_result(duration, cooldown, trials, threshold))
    names = ("cooldown_duration", "measurement_duration")
    swept, held = names if cooldown_sweep else names[::-1]
    return SweepReport(sweep_param=(swept, list(values)),
                       fixed_param=(held, fixed), entries=entries)


def profile_measurement_duration(target_function, zeus_monitor,
                                 measurement_duration_search_range=None,
                                 cooldown_duration=10.0, num_trials=10,
                                 num_warmup_trials=2,
                                 trial_stddev_threshold=0.01,
                                 num_warmup_iterations=10,
                                 num_calibration_iterations=100,
                                 iteration_duration=None):
    """Sweeps measurement durations with the cooldown fixed."""
    values = measurement_duration_search_range or _DEFAULT_SEARCH_RANGE
    if iteration_duration is None:
        iteration_duration = _calibrate(target_function, zeus_monitor,
                                        num_warmup_iterations,
                                        num_calibration_iterations)
    return _sweep(target_function, zeus_monitor, values, cooldown_duration,
                  False, num_trials, num_warmup_trials,
                  trial_stddev_threshold, num_warmup_iterations,
                  iteration_duration)


def profile_cooldown_duration(target_function, zeus_monitor,
                              cooldown_duration_search_range=None,
                              measurement_duration=10.0, num_trials=10,
                              num_warmup_trials=2, trial_stddev_threshold=0.01,
                              num_warmup_iterations=10,
                              num_calibration_iterations=100,
                              iteration_duration=None):
    """Sweeps cooldown durations with the measurement duration fixed."""
    values = cooldown_duration_search_range or _DEFAULT_SEARCH_RANGE
    if iteration_duration is None:
        iteration_duration = _calibrate(target_function, zeus_monitor,
                                        num_warmup_iterations,
                                        num_calibration_iterations)
    return _sweep(target_function, zeus_monitor, values, measurement_duration,
                  True, num_trials, num_warmup_trials,
                  trial_stddev_threshold, num_warmup_iterations,
                  iteration_duration)


def profile_parameters(target_function, zeus_monitor,
                       measurement_duration_search_range=None,
                       cooldown_duration_search_range=None, num_trials=10,
                       num_warmup_trials=2, trial_stddev_threshold=0.01,
                       num_warmup_iterations=10,
                       num_calibration_iterations=100):
    """Both sweeps: ``(measurement_report, cooldown_report)``."""
    m = measurement_duration_search_range or _DEFAULT_SEARCH_RANGE
    c = cooldown_duration_search_range or _DEFAULT_SEARCH_RANGE
    per = _calibrate(target_function, zeus_monitor, num_warmup_iterations,
                     num_calibration_iterations)
    mr = profile_measurement_duration(
        target_function, zeus_monitor, m, max(c), num_trials,
        num_warmup_trials, trial_stddev_threshold, num_warmup_iterations,
        iteration_duration=per)
    cr = profile_cooldown_duration(
        target_function, zeus_monitor, c, max(m), num_trials, 0,
        trial_stddev_threshold, num_warmup_iterations, iteration_duration=per)
    return mr, cr


def measure(target_function, zeus_monitor, measurement_duration,
            cooldown_duration, num_warmup_iterations=10,
            num_calibration_iterations=100, warmup_settle_duration=None):
    """One trial with known durations."""
    if warmup_settle_duration is not None and warmup_settle_duration < 0:
        raise ValueError("warmup_settle_duration must be non-negative")
    per = _calibrate(target_function, zeus_monitor, num_warmup_iterations,
                     num_calibration_iterations)
    if warmup_settle_duration is not None:
        num_warmup_iterations = max(1, math.ceil(warmup_settle_duration / per))
    return _trial(target_function, zeus_monitor, cooldown_duration,
                  measurement_duration, num_warmup_iterations, per)
