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

import math
import sys
import threading
import warnings
from ctypes import POINTER, byref, c_char_p, c_double, c_int, c_void_p

from . import _lib
from ._lib import check, lib
from .errors import InvalidArgumentError

__all__ = ["PowerLimitOptimizer", "OptimumSelector", "Energy", "Time",
           "ZeusCost", "MaxSlowdownConstraint"]

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
                 target_uncertainty=0.01, max_profile_s=10.0):
        self._plo = None
        self._noted = False
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
        n_gpus = len(idx) if idx is not None else len(monitor.gpu_indices)
        selector = as_selector(selector)
        sel = _selector_text(selector, n_gpus)
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

    def _destroy(self, _ctx=None):
        plo, self._plo = self._plo, None
        if plo is not None:
            lib.joule_plo_destroy(plo)

    def _call(self, fn, *args):
        self._monitor._acquire()
        try:
            if self._plo is None:
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
        check(self._call(lib.joule_plo_step_begin))
        if not self._noted:
            note = self._call(lib.joule_plo_note)
            if note:  # steps too short for ±1 %: said once
                self._noted = True
                warnings.warn(note.decode("utf-8", "replace"), UserWarning, stacklevel=2)

    def on_epoch_end(self):
        """Call at the end of every epoch."""
        check(self._call(lib.joule_plo_epoch_end))

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
        """'ready', 'warmup', 'profile' or 'done'."""
        return STATES.get(self._call(lib.joule_plo_state), "unknown")

    @property
    def done(self):
        return self.state == "done"

    @property
    def power_limit(self):
        """The power limit now applied, W."""
        return self._call(lib.joule_plo_power_limit_w)

    @property
    def optimal_power_limit(self):
        """The chosen limit in W once done, else None."""
        w = c_double()
        rc = self._call(lib.joule_plo_result, byref(w))
        return w.value if rc == 0 else None

    @property
    def measurements(self):
        """[(power_limit_w, time_per_step_s, energy_per_step_j)], highest
        limit first."""
        def read(plo):
            out = []
            for i in range(lib.joule_plo_measurement_count(plo)):
                pl, t, e = c_double(), c_double(), c_double()
                check(lib.joule_plo_measurement(plo, i, byref(pl), byref(t),
                                                byref(e)))
                out.append((pl.value, t.value, e.value))
            return out
        return self._call(read)

    @property
    def closed(self):
        return self._plo is None

    def close(self):
        """Puts the maximum power limit back (also done when the monitor
        closes)."""
        if self._plo is not None:
            self._monitor._run_close_hook_now(self._destroy)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# -- Hugging Face ---------------------------------------------------------

_hf_classes = {}
_hf_lock = threading.Lock()


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
    (built once per TrainerCallback class). Raises ImportError without
    transformers."""
    mod = sys.modules.get("transformers")
    base = getattr(mod, "TrainerCallback", None) if mod is not None else None
    if base is None:
        from transformers import TrainerCallback as base  # may raise
    with _hf_lock:
        cls = _hf_classes.get(base)
        if cls is None:
            cls = _hf_classes[base] = _make_hf_class(base)
        return cls


def __getattr__(name):
    # PEP 562: HFPowerLimitCallback exists only where transformers imports,
    # and importing transformers (seconds, and torch with it) waits for its
    # first use instead of slowing down every `import joule`.
    if name == "HFPowerLimitCallback":
        try:
            return hf_callback_class()
        except Exception as e:  # ImportError, or a broken optional package
            raise AttributeError(
                "joule.HFPowerLimitCallback needs the transformers package, "
                "which cannot be imported (%s: %s)"
                % (type(e).__name__, e)) from None
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
