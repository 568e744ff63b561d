"""joule.PowerLimitOptimizer: find the best GPU power limit during training.

A thin wrapper of libjoule's in-loop optimizer (``joule_plo_*``, see
docs/optimize.md), with Zeus's names: call :meth:`on_step_begin` before
every training step and :meth:`on_epoch_end` after every epoch. Each
candidate power limit, from the GPUs' maximum down by ``pl_step`` watts, is
warmed up for ``warmup_steps`` steps and measured for ``profile_steps``;
then the selector picks one and it stays applied. An epoch that ends while
a limit is being profiled discards that measurement and retries the limit
next epoch. With a ``job`` name the profile is kept in SQLite, and the next
run with the same GPUs and job applies the optimum at once.

``HFPowerLimitCallback`` (a Hugging Face ``TrainerCallback``) exists only
when ``transformers`` can be imported.
"""

from ctypes import POINTER, byref, c_char_p, c_double, c_int, c_void_p

from . import _lib
from ._lib import check, lib
from .errors import InvalidArgumentError

__all__ = ["PowerLimitOptimizer"]

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
]

if _lib.has("joule_plo_create"):
    for _name, _res, _args in _PROTOTYPES:
        _fn = getattr(lib, _name)
        _fn.restype = _res
        _fn.argtypes = _args


def _int(value, what, low):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("joule: %s must be an int, not %s"
                        % (what, type(value).__name__))
    if value < low:
        raise ValueError("joule: %s must be >= %d, not %d" % (what, low, value))
    return value


def _selector_text(selector):
    """'energy', 'time', 'cost' / ('cost', eta), 'slowdown' / ('slowdown', F),
    or the library's own 'cost:0.5' form."""
    if selector is None:
        return None
    if isinstance(selector, str):
        return selector
    if isinstance(selector, tuple) and len(selector) == 2 and \
            isinstance(selector[0], str):
        return "%s:%r" % (selector[0], float(selector[1]))
    raise TypeError("joule: selector must be a name like 'cost:0.5' or a "
                    "(name, parameter) tuple")


class PowerLimitOptimizer:
    """``PowerLimitOptimizer(monitor, selector="cost:0.5", warmup_steps=10,
    profile_steps=40, pl_step=25, gpus=None, job=None, db=None)``.

    ``monitor`` is a :class:`joule.Monitor`; the optimizer controls its
    GPUs (or ``gpus``, CUDA-visible indices) and puts their maximum power
    limit back when closed. Selectors: ``"energy"``, ``"time"``,
    ``"cost:ETA"`` (Zeus's ``ETA*E + (1-ETA)*P_max*N*T``) and
    ``"slowdown:F"`` (least energy within F times the time at the maximum
    limit).
    """

    def __init__(self, monitor, selector="cost:0.5", warmup_steps=10,
                 profile_steps=40, pl_step=25, *, gpus=None, job=None,
                 db=None):
        self._plo = None
        if not _lib.has("joule_plo_create"):
            raise NotImplementedError(
                "joule.PowerLimitOptimizer needs libjoule's joule_plo_*, "
                "which this libjoule.so (%s) does not export" % _lib.path)
        from .monitor import Monitor
        if not isinstance(monitor, Monitor):
            raise TypeError("joule: PowerLimitOptimizer needs a joule.Monitor")
        _int(warmup_steps, "warmup_steps", 0)
        _int(profile_steps, "profile_steps", 1)
        if isinstance(pl_step, bool) or not isinstance(pl_step, (int, float)):
            raise TypeError("joule: pl_step must be a number of watts")
        sel = _selector_text(selector)
        self._monitor = monitor
        opts = c_void_p()
        check(lib.joule_plo_options_create(byref(opts)))
        try:
            check(lib.joule_plo_options_set_warmup_steps(opts, warmup_steps))
            check(lib.joule_plo_options_set_profile_steps(opts, profile_steps))
            check(lib.joule_plo_options_set_pl_step_w(opts, float(pl_step)))
            if sel is not None:
                check(lib.joule_plo_options_set_selector(opts, sel.encode()))
            if gpus is not None:
                idx = [_int(g, "gpus[]", 0) for g in gpus]
                arr = (c_int * max(len(idx), 1))(*idx)
                check(lib.joule_plo_options_set_gpus(opts, arr, len(idx)))
            if job is not None:
                check(lib.joule_plo_options_set_job(opts, str(job).encode()))
            if db is not None:
                check(lib.joule_plo_options_set_db(opts, str(db).encode()))
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

    def on_step_begin(self):
        """Call at the start of every training step."""
        check(self._call(lib.joule_plo_step_begin))

    def on_epoch_end(self):
        """Call at the end of every epoch."""
        check(self._call(lib.joule_plo_epoch_end))

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


try:  # pragma: no cover - only where transformers is installed
    from transformers import TrainerCallback as _TrainerCallback
except Exception:  # ImportError, or a broken optional dependency
    _TrainerCallback = None

if _TrainerCallback is not None:  # pragma: no cover
    class HFPowerLimitCallback(_TrainerCallback):
        """Drives a :class:`PowerLimitOptimizer` from a Hugging Face
        ``Trainer``: ``Trainer(..., callbacks=[HFPowerLimitCallback(plo)])``."""

        def __init__(self, optimizer):
            self.optimizer = optimizer

        def on_step_begin(self, args, state, control, **kwargs):
            self.optimizer.on_step_begin()

        def on_epoch_end(self, args, state, control, **kwargs):
            self.optimizer.on_epoch_end()

    __all__.append("HFPowerLimitCallback")
