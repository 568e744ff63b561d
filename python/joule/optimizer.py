"""joule.PowerLimitOptimizer: find the best GPU power limit during training.

A thin wrapper of libjoule's in-loop optimizer (``joule_plo_*``, see
docs/optimize.md), with the names of Zeus's ``GlobalPowerLimitOptimizer``:
call :meth:`on_step_begin` before every training step and
:meth:`on_epoch_end` after every epoch (``on_epoch_begin``,
``on_step_end`` and the other Zeus callback methods are accepted and do
nothing, as in Zeus). Each candidate power limit, from the GPUs' maximum
down by ``pl_step`` watts, is warmed up for ``warmup_steps`` steps and
measured for ``profile_steps``; then the selector picks one and it stays
applied. An epoch that ends while a limit is being warmed up or profiled
discards it and retries the limit next epoch. Only with a job name
(``job=`` or ``$JOULE_JOB``) is the profile kept in SQLite, so that the
next run with the same GPUs and job applies the optimum at once.

The selectors carry Zeus's names too: :class:`Energy`, :class:`Time`,
:class:`ZeusCost` and :class:`MaxSlowdownConstraint` (Zeus's own selector
objects are accepted as well).

``HFPowerLimitCallback`` (a Hugging Face ``TrainerCallback``) exists only
when ``transformers`` can be imported; it is built on first use, so
``import joule`` never imports transformers.
"""

import atexit
import collections
import json
import math
import os
import sys
import threading
import warnings
import weakref
from ctypes import (CFUNCTYPE, POINTER, byref, c_char_p, c_double, c_int,
                    c_void_p)

from . import _hf
from . import _lib
from ._lib import check, lib
from .errors import InvalidArgumentError

__all__ = ["PowerLimitOptimizer", "GlobalPowerLimitOptimizer",
           "OptimumSelector", "Energy", "Time", "ZeusCost",
           "MaxSlowdownConstraint", "PowerLimitMeasurement", "Ready",
           "Warmup", "Profiling", "Done", "read_profile", "write_profile"]

STATES = {0: "ready", 1: "warmup", 2: "profile", 3: "done"}

_PROTOTYPES = [
    ("joule_plo_options_create", c_int, [POINTER(c_void_p)]),
    ("joule_plo_options_destroy", None, [c_void_p]),
    ("joule_plo_options_set_warmup_steps", c_int, [c_void_p, c_int]),
    ("joule_plo_options_set_profile_steps", c_int, [c_void_p, c_int]),
    ("joule_plo_options_set_pl_step_w", c_int, [c_void_p, c_double]),
    ("joule_plo_options_set_selector", c_int, [c_void_p, c_char_p]),
    ("joule_plo_options_set_gpus", c_int, [c_void_p, POINTER(c_int), c_int]),
    ("joule_plo_options_set_job", c_int, [c_void_p, c_char_p]),
    ("joule_plo_options_set_db", c_int, [c_void_p, c_char_p]),
    ("joule_plo_create", c_int, [c_void_p, c_void_p, POINTER(c_void_p)]),
    ("joule_plo_step_begin", c_int, [c_void_p]),
    ("joule_plo_epoch_end", c_int, [c_void_p]),
    ("joule_plo_result", c_int, [c_void_p, POINTER(c_double)]),
    ("joule_plo_state", c_int, [c_void_p]),
    ("joule_plo_power_limit_w", c_double, [c_void_p]),
    ("joule_plo_measurement_count", c_int, [c_void_p]),
    ("joule_plo_measurement", c_int,
     [c_void_p, c_int, POINTER(c_double), POINTER(c_double), POINTER(c_double)]),
    ("joule_plo_destroy", None, [c_void_p]),
    ("joule_plo_note", c_char_p, [c_void_p]),
    ("joule_plo_options_set_target_uncertainty", c_int, [c_void_p, c_double]),
    ("joule_plo_options_set_max_profile_s", c_int, [c_void_p, c_double]),
]

if _lib.has("joule_plo_create"):
    for _name, _res, _args in _PROTOTYPES:
        _fn = getattr(lib, _name)
        _fn.restype = _res
        _fn.argtypes = _args

reduce_fn_t = CFUNCTYPE(c_int, POINTER(c_double), POINTER(c_double), c_void_p)
if _lib.has("joule_plo_options_set_reduce"):
    lib.joule_plo_options_set_reduce.restype = c_int
    lib.joule_plo_options_set_reduce.argtypes = [c_void_p, reduce_fn_t,
                                                 c_void_p]

if _lib.has("joule_select"):
    lib.joule_select.restype = c_int
    lib.joule_select.argtypes = [c_char_p, POINTER(c_double), POINTER(c_double),
                                 POINTER(c_double), c_int, c_double, c_int]


def _int(value, what, low):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("joule: %s must be an int, not %s"
                        % (what, type(value).__name__))
    if value < low:
        raise ValueError("joule: %s must be >= %d, not %d" % (what, low, value))
    return value


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("joule: %s must be a number, not %s"
                        % (what, type(value).__name__))
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("joule: %s must be finite, not %r" % (what, value))
    return value


# -- Zeus's state objects, measurements and profile files -------------------

#: Zeus's ``PowerLimitMeasurement``: ``power_limit`` (W, int), ``time``
#: (s) and ``energy`` (J) of one profiled limit. A tuple, so code that
#: unpacks ``(power_limit, time, energy)`` keeps working.
PowerLimitMeasurement = collections.namedtuple(
    "PowerLimitMeasurement", ["power_limit", "time", "energy"])


class _State(str):
    """Base of Zeus's state objects. Each is also joule's state name, a
    ``str`` (``plo.state == "done"``, ``json.dumps(plo.state)``), as
    before."""

    name = ""
    _fields = ()

    def __new__(cls, **kw):
        self = super().__new__(cls, cls.name)
        for f in cls._fields:
            setattr(self, f, kw.get(f))
        return self

    def __eq__(self, other):
        if isinstance(other, _State):
            return type(other) is type(self) and all(
                getattr(self, f) == getattr(other, f) for f in self._fields)
        return str.__eq__(self, other)

    def __ne__(self, other):
        return not self == other

    __hash__ = str.__hash__

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (f, getattr(self, f)) for f in self._fields))


class Ready(_State):
    """Waiting to warm up ``next_power_limit`` (mW, as Zeus) after
    ``steps`` more ``on_step_begin`` calls."""
    name = "ready"
    _fields = ("next_power_limit", "steps")


class Warmup(_State):
    """Warming up ``current_power_limit`` (mW); ``steps`` left."""
    name = "warmup"
    _fields = ("current_power_limit", "steps")


class Profiling(_State):
    """Profiling ``current_power_limit`` (mW); ``steps`` left (at least:
    joule may lengthen the window for precision)."""
    name = "profile"
    _fields = ("current_power_limit", "steps")


class Done(_State):
    """Finished: ``optimal_power_limit`` (mW) is applied."""
    name = "done"
    _fields = ("optimal_power_limit",)


def _bad_profile(path, msg, line=None, column=None):
    where = path if line is None else "%s:%d:%d" % (path, line, column)
    return ValueError("joule: bad power-limit profile %s: %s" % (where, msg))


def read_profile(path):
    """Reads a profile in Zeus's JSON format (``{"measurements":
    [{"power_limit": W, "energy": J, "time": s}, ...]}``, what
    ``GlobalPowerLimitOptimizer(profile_path=...)`` writes) into a list of
    :class:`PowerLimitMeasurement`. A bad file raises ValueError naming the
    file, and the line and column (or the entry) at fault."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad_profile(path, e.msg, e.lineno, e.colno) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("measurements"),
                                                   list):
        raise _bad_profile(path, 'expected an object with a "measurements" '
                           "list")
    out = []
    for i, m in enumerate(doc["measurements"]):
        if not isinstance(m, dict):
            raise _bad_profile(path, "measurements[%d] is not an object" % i)
        vals = []
        for key in ("power_limit", "time", "energy"):
            v = m.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                    not math.isfinite(v) or v <= 0:
                raise _bad_profile(path, "measurements[%d].%s is %r; a "
                                   "positive number is needed" % (i, key, v))
            vals.append(v)
        if vals[0] != int(vals[0]):
            raise _bad_profile(path, "measurements[%d].power_limit is %r; "
                               "whole watts are needed" % (i, vals[0]))
        out.append(PowerLimitMeasurement(int(vals[0]), float(vals[1]),
                                         float(vals[2])))
    if not out:
        raise _bad_profile(path, "no measurements")
    return out


def write_profile(path, measurements):
    """Writes measurements in Zeus's JSON format (atomically)."""
    path = os.fspath(path)
    doc = {"measurements": [
        {"power_limit": int(round(m[0])), "energy": float(m[2]),
         "time": float(m[1])} for m in measurements]}
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=4)
        f.write("\n")
    os.replace(tmp, path)


def _torch_distributed():
    """torch.distributed when torch is imported and a process group is
    initialised, else None (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = getattr(torch, "distributed", None)
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            return dist
    except Exception:
        return None
    return None


# -- selectors with Zeus's names ------------------------------------------

class OptimumSelector:
    """Base of the selectors with Zeus's names (zeus.optimizer.power_limit).

    Each one stands for one of libjoule's selectors (docs/optimize.md),
    which :class:`PowerLimitOptimizer` runs inside the library; it is not
    a Python callback. ``spec(n_gpus)`` gives the library's selector text
    and ``select(measurements)`` (Zeus's method) picks from a list of
    measurements with the same code the optimizer uses.
    """

    def spec(self, n_gpus=1):
        """libjoule's selector text ('energy', 'cost:0.5', ...) for an
        optimizer controlling ``n_gpus`` GPUs."""
        raise TypeError(
            "joule: %s is a custom OptimumSelector; libjoule's optimizer "
            "picks the limit itself, with Energy(), Time(), ZeusCost(eta, "
            "world_size) or MaxSlowdownConstraint(factor) (or 'energy', "
            "'time', 'cost:ETA', 'slowdown:F')" % type(self).__name__)

    def select(self, measurements):
        """Zeus's ``select``: the chosen power limit among ``measurements``,
        each a ``(power_limit, time, energy)`` tuple (as in
        ``PowerLimitOptimizer.measurements``) or an object with
        ``power_limit``, ``time`` and ``energy`` attributes (Zeus's
        ``PowerLimitMeasurement``). Time and energy must be for the same
        amount of work in every measurement. Ties and bad input follow
        docs/optimize.md (ValueError for fewer than two points)."""
        pl, t, e = [], [], []
        for m in measurements:
            if isinstance(m, (tuple, list)):
                if len(m) != 3:
                    raise TypeError("joule: a measurement tuple is "
                                    "(power_limit, time, energy)")
                a, b, c = m
            else:
                try:
                    a, b, c = m.power_limit, m.time, m.energy
                except AttributeError:
                    raise TypeError(
                        "joule: a measurement is a (power_limit, time, "
                        "energy) tuple or has those attributes, not %s"
                        % type(m).__name__) from None
            pl.append(a)
            t.append(_number(b, "time"))
            e.append(_number(c, "energy"))
        n = len(pl)
        arrays = [(c_double * max(n, 1))(*map(float, v))
                  for v in (pl, t, e)]
        spec, n_gpus = self._select_spec()
        idx = check(lib.joule_select(spec.encode(), arrays[0], arrays[1],
                                     arrays[2], n, 0.0, n_gpus))
        return pl[idx]

    def _select_spec(self):
        return self.spec(1), 1

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), tuple(sorted(vars(self).items()))))

    def __repr__(self):
        args = ", ".join("%s=%r" % kv for kv in vars(self).items())
        return "%s(%s)" % (type(self).__name__, args)


class Energy(OptimumSelector):
    """The limit with the least energy (libjoule's ``"energy"``)."""

    def spec(self, n_gpus=1):
        return "energy"


class Time(OptimumSelector):
    """The limit with the shortest time (libjoule's ``"time"``)."""

    def spec(self, n_gpus=1):
        return "time"


class ZeusCost(OptimumSelector):
    """The limit with the least Zeus cost
    ``eta_knob * E + (1 - eta_knob) * P_max * world_size * T``, where E is
    the energy of all monitored GPUs together and P_max the maximum power
    limit (libjoule's ``"cost:ETA"``). ``ZeusCost(eta_knob, world_size=1)``
    as in Zeus: 0 <= eta_knob <= 1, world_size >= 1.

    libjoule's ``cost:ETA`` weighs time by the number of GPUs the optimizer
    controls; when ``world_size`` differs, :meth:`spec` rescales eta so
    that the same limit wins (the cost is only compared, never reported).
    """

    def __init__(self, eta_knob, world_size=1):
        eta = _number(eta_knob, "eta_knob")
        if eta < 0 or eta > 1:
            raise ValueError("joule: eta_knob must be between 0 and 1, "
                             "inclusive both sides, not %r" % (eta_knob,))
        _int(world_size, "world_size", 1)
        self.eta_knob = eta_knob
        self.world_size = world_size

    def spec(self, n_gpus=1):
        eta, w = float(self.eta_knob), self.world_size
        n = max(int(n_gpus), 1)
        if w != n and 0.0 < eta < 1.0:
            # eta' E + (1-eta') P n T has the same minimum as
            # eta E + (1-eta) P w T when (1-eta')/eta' * n = (1-eta)/eta * w.
            eta = 1.0 / (1.0 + (1.0 - eta) * w / (eta * n))
        return "cost:%r" % eta

    def _select_spec(self):
        return "cost:%r" % float(self.eta_knob), self.world_size


class MaxSlowdownConstraint(OptimumSelector):
    """Among the limits whose time is at most ``factor`` times the time at
    the maximum limit, the one with the least energy (libjoule's
    ``"slowdown:F"``; factor >= 1). Zeus takes the *lowest limit* among
    those; the two differ only where a lower limit costs more energy."""

    def __init__(self, factor):
        f = _number(factor, "factor")
        if f < 1.0:
            raise ValueError("joule: max slowdown factor must be greater "
                             "than or equal to 1.0, not %r" % (factor,))
        self.factor = factor

    def spec(self, n_gpus=1):
        return "slowdown:%r" % float(self.factor)


_ZEUS_SELECTORS = {
    "Energy": lambda z: Energy(),
    "Time": lambda z: Time(),
    "ZeusCost": lambda z: ZeusCost(z.eta_knob, getattr(z, "world_size", 1)),
    "MaxSlowdownConstraint": lambda z: MaxSlowdownConstraint(z.factor),
}


def as_selector(selector):
    """Converts Zeus's own selector objects (zeus.optimizer.power_limit's
    Energy, Time, ZeusCost, MaxSlowdownConstraint) to joule's; joule's
    selectors, strings and tuples are returned unchanged."""
    if isinstance(selector, OptimumSelector):
        return selector
    cls = type(selector)
    if cls.__module__.split(".")[0] == "zeus" and \
            cls.__name__ in _ZEUS_SELECTORS:
        return _ZEUS_SELECTORS[cls.__name__](selector)
    return selector


def _is_custom(selector):
    """A selector libjoule cannot run: an OptimumSelector subclass that
    only defines ``select()``, or any other object with ``select``."""
    if isinstance(selector, OptimumSelector):
        return type(selector).spec is OptimumSelector.spec
    return not isinstance(selector, (str, tuple, type(None))) and \
        callable(getattr(selector, "select", None))


def _selector_text(selector, n_gpus=1):
    """'energy', 'time', 'cost' / ('cost', eta), 'slowdown' / ('slowdown', F),
    the library's own 'cost:0.5' form, or a selector object."""
    if selector is None:
        return None
    selector = as_selector(selector)
    if isinstance(selector, OptimumSelector):
        return selector.spec(n_gpus)
    if isinstance(selector, str):
        return selector
    if isinstance(selector, tuple) and len(selector) == 2 and \
            isinstance(selector[0], str):
        return "%s:%r" % (selector[0], float(selector[1]))
    raise TypeError("joule: selector must be a name like 'cost:0.5', a "
                    "(name, parameter) tuple or a selector object "
                    "(joule.Energy(), Time(), ZeusCost(eta), "
                    "MaxSlowdownConstraint(F)), not %s"
                    % type(selector).__name__)


def _closed_check(_plo):
    return 0


class PowerLimitOptimizer:
    """``PowerLimitOptimizer(monitor, selector="cost:0.5", warmup_steps=10,
    profile_steps=40, pl_step=25, *, optimum_selector=None, wait_steps=0,
    gpus=None, job=None, db=None)``.

    ``monitor`` is a :class:`joule.Monitor`; the optimizer controls its
    GPUs (or ``gpus``, CUDA-visible indices) and puts their maximum power
    limit back when closed or at exit. Selectors: ``"energy"``,
    ``"time"``, ``"cost:ETA"`` (Zeus's ``ETA*E + (1-ETA)*P_max*N*T``),
    ``"slowdown:F"`` (least energy within F times the time at the maximum
    limit), or the objects :class:`Energy`, :class:`Time`,
    :class:`ZeusCost`, :class:`MaxSlowdownConstraint`.

    Zeus's keyword names work: ``optimum_selector=`` is ``selector=``
    (give one of the two), ``wait_steps=N`` lets the first N steps pass
    before the first limit is warmed up. The profile is stored only with a
    job name: ``job=`` or ``$JOULE_JOB`` (``db=`` or ``$JOULE_DB`` picks
    the database); without one every run profiles again.

    Each limit's profiling window goes on past ``profile_steps`` until its
    energy is known to ``target_uncertainty`` (default 0.01: ±1 %; 0 keeps
    exactly ``profile_steps``), for at most ``max_profile_s`` seconds; when
    steps are that short, a ``UserWarning`` says so once, with numbers.
    """

    def __init__(self, monitor, selector=None, warmup_steps=10,
                 profile_steps=40, pl_step=25, *, optimum_selector=None,
                 wait_steps=0, gpus=None, job=None, db=None,
                 target_uncertainty=None, max_profile_s=10.0,
                 profile_path=None, reduce="auto"):
        self._plo = None
        self._noted = False
        self._loaded = None       # measurements read from profile_path
        self._custom_opt = None   # W chosen by a custom selector
        self._finished = False
        self._reduce_cb = None
        self._reduce_error = None
        self._restore_w = None
        if not _lib.has("joule_plo_create"):
            raise NotImplementedError(
                "joule.PowerLimitOptimizer needs libjoule's joule_plo_*, "
                "which this libjoule.so (%s) does not export" % _lib.path)
        from .monitor import Monitor
        if not isinstance(monitor, Monitor):
            raise TypeError("joule: PowerLimitOptimizer needs a joule.Monitor")
        if optimum_selector is not None:
            if selector is not None:
                raise TypeError("joule: pass selector or optimum_selector "
                                "(Zeus's name), not both")
            selector = optimum_selector
        _int(wait_steps, "wait_steps", 0)
        _int(warmup_steps, "warmup_steps", 0)
        _int(profile_steps, "profile_steps", 1)
        if isinstance(pl_step, bool) or not isinstance(pl_step, (int, float)):
            raise TypeError("joule: pl_step must be a number of watts")
        idx = None
        if gpus is not None:
            idx = [_int(g, "gpus[]", 0) for g in gpus]
        if idx is None and monitor._visible is not None:
            idx = monitor.gpu_indices  # a narrowed selection: only those
        n_gpus = len(idx) if idx is not None else len(monitor.gpu_indices)
        self._gpus = list(idx) if idx is not None else monitor.gpu_indices
        selector = as_selector(selector)
        self._custom = selector if _is_custom(selector) else None
        sel = _selector_text(selector, n_gpus) if self._custom is None \
            else "energy"  # profiling only; the custom selector chooses
        if sel is None:
            sel = "cost:0.5"  # the library's default, Zeus's ZeusCost(0.5)
        #: The selector as given (Zeus's attribute name), or the text.
        self.optimum_selector = selector if selector is not None else sel
        #: libjoule's selector text, e.g. 'cost:0.5'.
        self.selector = sel
        self.wait_steps = wait_steps
        self.warmup_steps = warmup_steps
        self.profile_steps = profile_steps
        self.pl_step = pl_step
        self._wait_left = wait_steps
        self._wait_lock = threading.Lock()
        self._monitor = monitor
        self._steps_in_state = 0
        self._last_state = None
        self.profile_path = (os.fspath(profile_path)
                             if profile_path is not None else None)
        if self.profile_path is not None and \
                os.path.exists(self.profile_path):
            self._load_profile()
            return
        reduce_fn = self._reduce_fn(reduce)
        if target_uncertainty is None:
            # Ranks must end their windows at the same step to reduce
            # them together: exactly profile_steps when reducing.
            target_uncertainty = 0.0 if reduce_fn is not None else 0.01
        opts = c_void_p()
        check(lib.joule_plo_options_create(byref(opts)))
        try:
            check(lib.joule_plo_options_set_warmup_steps(opts, warmup_steps))
            check(lib.joule_plo_options_set_profile_steps(opts, profile_steps))
            check(lib.joule_plo_options_set_pl_step_w(opts, float(pl_step)))
            check(lib.joule_plo_options_set_selector(opts, sel.encode()))
            if idx is not None:
                arr = (c_int * max(len(idx), 1))(*idx)
                check(lib.joule_plo_options_set_gpus(opts, arr, len(idx)))
            if job is not None:
                check(lib.joule_plo_options_set_job(opts, str(job).encode()))
            if db is not None:
                check(lib.joule_plo_options_set_db(opts, str(db).encode()))
            check(lib.joule_plo_options_set_target_uncertainty(
                opts, _number(target_uncertainty, "target_uncertainty")))
            check(lib.joule_plo_options_set_max_profile_s(
                opts, _number(max_profile_s, "max_profile_s")))
            if reduce_fn is not None:
                if not _lib.has("joule_plo_options_set_reduce"):
                    raise NotImplementedError(
                        "joule: cross-rank decisions need libjoule's "
                        "joule_plo_options_set_reduce")
                self._reduce_cb = reduce_fn_t(self._make_reduce(reduce_fn))
                check(lib.joule_plo_options_set_reduce(opts, self._reduce_cb,
                                                       None))
            ctx = monitor._acquire()
            try:
                plo = c_void_p()
                check(lib.joule_plo_create(ctx, opts, byref(plo)))
                self._plo = plo
                monitor._add_close_hook(self._destroy)
            finally:
                monitor._release()
        finally:
            lib.joule_plo_options_destroy(opts)
        self._after_step()  # a stored profile may already be done

    # -- Zeus's extras: profile files, custom selectors, ranks ---------------

    @staticmethod
    def _reduce_fn(reduce):
        """The (time, energy) -> (time, energy) function to combine ranks:
        "auto" is torch.distributed when a process group is initialised
        (time maxed, energy summed, as Zeus does), None is none, a
        callable is used as is (e.g. for MPI)."""
        if reduce is None or reduce is False:
            return None
        if callable(reduce):
            return reduce
        if reduce != "auto":
            raise TypeError("joule: reduce must be 'auto', None or a "
                            "callable (time, energy) -> (time, energy)")
        if _torch_distributed() is None:
            return None
        from .framework import all_reduce

        def torch_reduce(t, e):
            return (all_reduce([t], "max")[0], all_reduce([e], "sum")[0])
        return torch_reduce

    def _make_reduce(self, fn):
        def cb(time_p, energy_p, _user):
            try:
                t, e = fn(time_p[0], energy_p[0])
                time_p[0], energy_p[0] = float(t), float(e)
                return 0
            except BaseException as ex:  # noqa: BLE001 - reported later
                self._reduce_error = ex
                return -6  # JOULE_EIO
        return cb

    def _choose(self, measurements):
        """The limit (W) the selector picks among PowerLimitMeasurements."""
        if len(measurements) == 1:
            return measurements[0].power_limit
        sel = self._custom if self._custom is not None else \
            self.optimum_selector
        if self._custom is not None:
            return sel.select(list(measurements))
        if isinstance(sel, OptimumSelector):
            return sel.select(measurements)

        class _Text(OptimumSelector):
            def spec(inner, n_gpus=1):
                return self.selector
        return _Text().select(measurements)

    def _apply(self, watts):
        from .device import set_power_limit
        for g in self._gpus:
            set_power_limit(self._monitor, g, watts)

    def _max_limit_w(self):
        from .device import power_limits_w
        return min(power_limits_w(self._monitor, g)[2] for g in self._gpus)

    def _load_profile(self):
        """profile_path exists: no profiling; its measurements choose the
        limit, which is applied at once (Zeus's Done state)."""
        self._loaded = read_profile(self.profile_path)
        opt = self._choose(self._loaded)
        self._restore_w = self._max_limit_w()
        self._apply(opt)
        self._custom_opt = opt
        self._finished = True
        self._monitor._add_close_hook(self._destroy)
        ref = weakref.ref(self)
        self._atexit = lambda: ref() is not None and ref().close()
        atexit.register(self._atexit)

    def _zeus_measurements(self):
        """Measurements as Zeus keeps them: per profiling window of
        profile_steps steps."""
        if self._loaded is not None:
            return list(self._loaded)
        k = self.profile_steps
        return [PowerLimitMeasurement(int(round(pl)), t * k, e * k)
                for pl, t, e in self.measurements]

    def _after_step(self):
        if self._finished or self._plo is None:
            return
        if self._reduce_error is not None:
            e, self._reduce_error = self._reduce_error, None
            raise RuntimeError("joule: combining the ranks' measurements "
                               "failed: %s: %s" % (type(e).__name__, e)) from e
        if lib.joule_plo_state(self._plo) != 3:
            return
        self._finished = True
        ms = self._zeus_measurements()
        if self._custom is not None:
            opt = self._choose(ms)
            if self._restore_w is None:
                self._restore_w = self._max_limit_w()
            self._apply(opt)
            self._custom_opt = opt
        if self.profile_path is not None and ms:
            from .framework import get_rank
            if _torch_distributed() is None or get_rank() == 0:
                write_profile(self.profile_path, ms)

    def _destroy(self, _ctx=None):
        plo, self._plo = self._plo, None
        if plo is not None:
            lib.joule_plo_destroy(plo)
        w, self._restore_w = self._restore_w, None
        if w is not None and _ctx is not None:
            from .device import _need
            for g in self._gpus:
                _need("joule_gpu_set_power_limit_w")(_ctx, g, w)
        if self._loaded is not None:
            self._loaded_closed = True
            atexit.unregister(self._atexit)

    def _call(self, fn, *args):
        self._monitor._acquire()
        try:
            if self._plo is None:
                if self._loaded is not None and \
                        not getattr(self, "_loaded_closed", False):
                    return _LOADED.get(getattr(fn, "__name__", None),
                                       lambda *a: 0)(self, *args)
                raise InvalidArgumentError("joule: the optimizer is closed")
            return fn(self._plo, *args)
        finally:
            self._monitor._release()

    # -- Zeus's callback methods --------------------------------------------

    def on_step_begin(self):
        """Call at the start of every training step. The first
        ``wait_steps`` calls only count down."""
        if self._wait_left:
            with self._wait_lock:
                waiting = self._wait_left > 0
                if waiting:
                    self._wait_left -= 1
            if waiting:
                self._call(_closed_check)
                return
        rc = self._call(lib.joule_plo_step_begin)
        self._count_step()
        self._after_step()
        check(rc)
        if not self._noted and self._plo is not None:
            note = self._call(lib.joule_plo_note)
            if note:  # steps too short for ±1 %: said once
                self._noted = True
                warnings.warn(note.decode("utf-8", "replace"), UserWarning, stacklevel=2)

    def on_epoch_end(self):
        """Call at the end of every epoch."""
        rc = self._call(lib.joule_plo_epoch_end)
        self._count_step(steps=0)
        self._after_step()
        check(rc)

    def _count_step(self, steps=1):
        st = self._call(lib.joule_plo_state)
        if st != self._last_state:
            self._last_state, self._steps_in_state = st, 0
        else:
            self._steps_in_state += steps

    def on_step_end(self):
        """Zeus's end-of-step mark: nothing to do (the profile windows run
        from one ``on_step_begin`` to another)."""
        self._call(_closed_check)

    def on_epoch_begin(self):
        """Zeus's start-of-epoch mark: nothing to do."""
        self._call(_closed_check)

    def on_train_begin(self):
        """Zeus's ``Callback`` method: nothing to do."""

    def on_train_end(self):
        """Zeus's ``Callback`` method: nothing to do (the maximum limit is
        put back by :meth:`close`, by closing the monitor, or at exit)."""

    def on_evaluate(self, metric=None):
        """Zeus's ``Callback`` method: nothing to do."""

    def on_instruction_begin(self, name=None):
        """Zeus's ``Callback`` method: nothing to do."""

    def on_instruction_end(self, name=None):
        """Zeus's ``Callback`` method: nothing to do."""

    # -- results -------------------------------------------------------------

    @property
    def state(self):
        """Zeus's state object: :class:`Ready`, :class:`Warmup`,
        :class:`Profiling` or :class:`Done` (power limits in mW, as Zeus).
        Each equals joule's name: ``plo.state == "done"``."""
        code = self._call(lib.joule_plo_state)
        mw = int(round(self.power_limit * 1000))
        if code == 3:
            opt = self.optimal_power_limit
            return Done(optimal_power_limit=int(round(opt * 1000))
                        if opt is not None else mw)
        if code == 1:
            return Warmup(current_power_limit=mw, steps=max(
                self.warmup_steps - self._steps_in_state, 1))
        if code == 2:
            return Profiling(current_power_limit=mw, steps=max(
                self.profile_steps - self._steps_in_state, 1))
        nxt = self._next_limit_mw()
        return Ready(next_power_limit=nxt, steps=max(self._wait_left, 0) + 1)

    def _next_limit_mw(self):
        done = {round(m[0]) for m in self.measurements}
        try:
            hi = self._max_limit_w()
        except Exception:  # noqa: BLE001 - a state is still shown
            return None
        from .device import power_limits_w
        lo = max(power_limits_w(self._monitor, g)[1] for g in self._gpus)
        w = hi
        while w >= lo - 1e-9:
            if round(w) not in done:
                return int(round(w * 1000))
            w -= float(self.pl_step)
        return int(round(hi * 1000))

    @property
    def done(self):
        return self._call(lib.joule_plo_state) == 3

    @property
    def power_limit(self):
        """The power limit now applied, W."""
        if self._custom_opt is not None:
            return float(self._custom_opt)
        return self._call(lib.joule_plo_power_limit_w)

    @property
    def optimal_power_limit(self):
        """The chosen limit in W once done, else None."""
        if self._custom_opt is not None:
            return float(self._custom_opt)
        w = c_double()
        rc = self._call(lib.joule_plo_result, byref(w))
        return w.value if rc == 0 else None

    @property
    def measurements(self):
        """[PowerLimitMeasurement(power_limit_w, time_per_step_s,
        energy_per_step_j)], highest limit first; tuples, so
        ``(pl, t, e)`` unpacking works. Read from ``profile_path``: the
        file's values (Zeus's: per profiling window)."""
        if self._loaded is not None:
            return list(self._loaded)

        def read(plo):
            out = []
            for i in range(lib.joule_plo_measurement_count(plo)):
                pl, t, e = c_double(), c_double(), c_double()
                check(lib.joule_plo_measurement(plo, i, byref(pl), byref(t),
                                                byref(e)))
                out.append(PowerLimitMeasurement(pl.value, t.value, e.value))
            return out
        return self._call(read)

    @property
    def closed(self):
        if self._loaded is not None:
            return getattr(self, "_loaded_closed", False)
        return self._plo is None

    def close(self):
        """Puts the maximum power limit back (also done when the monitor
        closes)."""
        if self._plo is not None or (self._loaded is not None and
                                     not self.closed):
            if self._monitor.closed:
                return
            self._monitor._run_close_hook_now(self._destroy)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


#: What the C calls answer for an optimizer that read its profile_path.
_LOADED = {
    "joule_plo_state": lambda self: 3,
    "joule_plo_power_limit_w": lambda self: float(self._custom_opt),
    "joule_plo_step_begin": lambda self: 0,
    "joule_plo_epoch_end": lambda self: 0,
    "joule_plo_note": lambda self: b"",
}


class GlobalPowerLimitOptimizer(PowerLimitOptimizer):
    """Zeus's ``GlobalPowerLimitOptimizer(monitor, optimum_selector=None,
    wait_steps=1, warmup_steps=10, profile_steps=40, pl_step=25,
    profile_path=None)``, with Zeus's positional order and defaults; the
    keywords of :class:`PowerLimitOptimizer` are accepted too."""

    def __init__(self, monitor, optimum_selector=None, wait_steps=1,
                 warmup_steps=10, profile_steps=40, pl_step=25,
                 profile_path=None, **kwargs):
        if wait_steps < 0:
            raise ValueError("wait_steps must be non-negative.")
        if warmup_steps < 0:
            raise ValueError("warmup_steps must be non-negative.")
        if profile_steps <= 0:
            raise ValueError("profile_steps must be positive.")
        if pl_step <= 0:
            raise ValueError("pl_step must be positive.")
        super().__init__(monitor, warmup_steps=warmup_steps,
                         profile_steps=profile_steps, pl_step=pl_step,
                         optimum_selector=optimum_selector,
                         wait_steps=wait_steps, profile_path=profile_path,
                         **kwargs)


# -- Hugging Face ---------------------------------------------------------

def _make_hf_class(trainer_callback):
    class HFPowerLimitCallback(trainer_callback):
        """Drives a :class:`PowerLimitOptimizer` from a Hugging Face
        ``Trainer``: ``Trainer(..., callbacks=[HFPowerLimitCallback(plo)])``.

        ``HFPowerLimitCallback(monitor, **kwargs)`` makes the optimizer
        itself, with :class:`PowerLimitOptimizer`'s keyword arguments
        (``optimum_selector=``, ``wait_steps=``, ``warmup_steps=``, ...), as
        Zeus's ``HFGlobalPowerLimitOptimizer(monitor, ...)`` does. The
        optimizer is ``self.optimizer``. ``on_step_begin`` and
        ``on_epoch_end`` drive it; the other events do nothing.
        """

        def __init__(self, optimizer, *args, **kwargs):
            from .monitor import Monitor
            if isinstance(optimizer, Monitor):
                optimizer = PowerLimitOptimizer(optimizer, *args, **kwargs)
            elif isinstance(optimizer, PowerLimitOptimizer):
                if args or kwargs:
                    raise TypeError(
                        "joule: HFPowerLimitCallback(optimizer) takes no "
                        "other arguments; pass a Monitor to have it make "
                        "the optimizer with them")
            else:
                raise TypeError(
                    "joule: HFPowerLimitCallback needs a joule."
                    "PowerLimitOptimizer or a joule.Monitor, not %s"
                    % type(optimizer).__name__)
            self.optimizer = optimizer

        def on_step_begin(self, args, state, control, **kwargs):
            self.optimizer.on_step_begin()

        def on_epoch_end(self, args, state, control, **kwargs):
            self.optimizer.on_epoch_end()

    HFPowerLimitCallback.__module__ = __name__
    return HFPowerLimitCallback


def hf_callback_class():
    """joule.HFPowerLimitCallback for the ``transformers`` now importable
    (joule/_hf.py). Raises ImportError without transformers."""
    return _hf.callback_class(_make_hf_class)


def __getattr__(name):
    # PEP 562: HFPowerLimitCallback exists only where transformers imports,
    # and importing transformers (seconds, and torch with it) waits for its
    # first use instead of slowing down every `import joule`.
    if name in ("HFPowerLimitCallback", "HFGlobalPowerLimitOptimizer"):
        try:
            return hf_callback_class()
        except Exception as e:  # ImportError, or a broken optional package
            raise AttributeError(
                "joule.HFPowerLimitCallback needs the transformers package, "
                "which cannot be imported (%s: %s)"
                % (type(e).__name__, e)) from None
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
