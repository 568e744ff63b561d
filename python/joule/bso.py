"""joule.BatchSizeOptimizer: choose the batch size across runs of a job.

A thin wrapper of libjoule's batch-size optimizer (``joule_bso_*``, see
docs/optimize.md) with the client semantics of Zeus's
``zeus.optimizer.batch_size.BatchSizeOptimizer``::

    monitor = joule.Monitor(gpus=[0])
    bso = joule.BatchSizeOptimizer(monitor, joule.JobSpec(
        job_id="mnist", batch_sizes=[32, 64, 128, 256], default_batch_size=128,
        target_metric=0.97, max_epochs=20))
    batch_size = bso.get_next_batch_size()
    bso.on_train_begin()
    for epoch in range(20):
        train_one_epoch(batch_size)
        if bso.on_evaluate(validate()):   # True: the target is reached
            break

When a run must stop without converging (its cost passed beta x the least
cost of a converged run, or max_epochs), :meth:`on_evaluate` raises
:class:`BatchSizeTrainFailError`: relaunch the job and it gets another
batch size. The state lives in SQLite (``db=``, else ``$JOULE_DB``, else
the default database), so recurrences of a job share it across processes
and machines that share the file; it survives kill -9.

``HFBatchSizeCallback`` (a Hugging Face ``TrainerCallback``) exists only
when ``transformers`` can be imported; it is built on first use.
"""

import math
import threading
from ctypes import POINTER, byref, c_char_p, c_double, c_int, c_uint64, c_void_p

from . import _hf
from . import _lib
from ._lib import check, lib
from .errors import JouleError

__all__ = ["BatchSizeOptimizer", "JobSpec", "BatchSizeTrainFailError"]

_PROTOTYPES = [
    ("joule_bso_spec_create", c_int, [c_char_p, POINTER(c_void_p)]),
    ("joule_bso_spec_destroy", None, [c_void_p]),
    ("joule_bso_spec_set_batch_sizes", c_int, [c_void_p, POINTER(c_int), c_int, c_int]),
    ("joule_bso_spec_set_target_metric", c_int, [c_void_p, c_double, c_int]),
    ("joule_bso_spec_set_max_power_w", c_int, [c_void_p, c_double]),
    ("joule_bso_spec_set_max_epochs", c_int, [c_void_p, c_int]),
    ("joule_bso_spec_set_eta", c_int, [c_void_p, c_double]),
    ("joule_bso_spec_set_beta", c_int, [c_void_p, c_double]),
    ("joule_bso_spec_set_pruning_rounds", c_int, [c_void_p, c_int]),
    ("joule_bso_spec_set_explorations", c_int, [c_void_p, c_int]),
    ("joule_bso_spec_set_window", c_int, [c_void_p, c_int]),
    ("joule_bso_spec_set_seed", c_int, [c_void_p, c_uint64]),
    ("joule_bso_spec_set_prune_factor", c_int, [c_void_p, c_double]),
    ("joule_bso_open", c_int, [c_void_p, c_char_p, POINTER(c_void_p)]),
    ("joule_bso_next", c_int, [c_void_p, POINTER(c_int), POINTER(c_int)]),
    ("joule_bso_epoch", c_int,
     [c_void_p, c_int, c_int, c_double, c_double, c_double, POINTER(c_int)]),
    ("joule_bso_end", c_int, [c_void_p, c_int, c_double, c_double, c_int]),
    ("joule_bso_best", c_int, [c_void_p, POINTER(c_int)]),
    ("joule_bso_verdict_name", c_char_p, [c_int]),
    ("joule_bso_close", None, [c_void_p]),
    ("joule_gpu_get_power_limit_w", c_int,
     [c_void_p, c_int, POINTER(c_double), POINTER(c_double), POINTER(c_double),
      POINTER(c_double), POINTER(c_double)]),
]

if _lib.has("joule_bso_open"):
    for _name, _res, _args in _PROTOTYPES:
        _fn = getattr(lib, _name)
        _fn.restype = _res
        _fn.argtypes = _args

CONTINUE, CONVERGED, STOP_COST, STOP_EPOCHS = 0, 1, 2, 3


class BatchSizeTrainFailError(JouleError):
    """This run must stop without converging; relaunch the job to get
    another batch size (Zeus: ZeusBSOTrainFailError)."""


#: Zeus's name, for code written against it.
ZeusBSOTrainFailError = BatchSizeTrainFailError


class JobSpec:
    """A job's spec, with Zeus's ``JobSpec`` field names and defaults.

    ``prune_factor`` is joule's (docs/optimize.md: 1.5; 0 walks exactly as
    Zeus). ``mab_seed=None`` is seed 1. Zeus's ``mab_prior_mean`` and
    ``mab_prior_precision`` are accepted only at their defaults (0: a flat
    prior), the only prior joule implements.
    """

    FIELDS = ("job_id", "batch_sizes", "default_batch_size", "eta_knob",
              "beta_knob", "target_metric", "higher_is_better_metric",
              "max_epochs", "num_pruning_rounds", "window_size",
              "mab_num_explorations", "mab_seed", "prune_factor")

    def __init__(self, job_id, batch_sizes, default_batch_size, eta_knob=0.5,
                 beta_knob=2.0, target_metric=0.5, higher_is_better_metric=True,
                 max_epochs=100, num_pruning_rounds=2, window_size=0,
                 mab_num_explorations=2, mab_seed=None, prune_factor=1.5,
                 mab_prior_mean=0.0, mab_prior_precision=0.0, job_id_prefix=None):
        if mab_prior_mean != 0.0 or mab_prior_precision != 0.0:
            raise ValueError("joule: only the flat prior (mab_prior_mean=0, "
                             "mab_prior_precision=0) is implemented")
        if not job_id:
            job_id = job_id_prefix
        if not isinstance(job_id, str) or not job_id:
            raise ValueError("joule: JobSpec needs a job_id (a non-empty string)")
        self.job_id = job_id
        self.batch_sizes = [int(b) for b in batch_sizes]
        self.default_batch_size = int(default_batch_size)
        self.eta_knob = float(eta_knob)
        self.beta_knob = math.inf if beta_knob is None else float(beta_knob)
        self.target_metric = float(target_metric)
        self.higher_is_better_metric = bool(higher_is_better_metric)
        self.max_epochs = int(max_epochs)
        self.num_pruning_rounds = int(num_pruning_rounds)
        self.window_size = int(window_size)
        self.mab_num_explorations = int(mab_num_explorations)
        self.mab_seed = 1 if mab_seed is None else int(mab_seed)
        self.prune_factor = float(prune_factor)

    @classmethod
    def from_any(cls, job):
        """A JobSpec from this class, a Zeus JobSpec, or a dict."""
        if isinstance(job, cls):
            return job
        if isinstance(job, dict):
            return cls(**job)
        kw = {}
        for name in cls.FIELDS + ("mab_prior_mean", "mab_prior_precision", "job_id_prefix"):
            if hasattr(job, name):
                kw[name] = getattr(job, name)
        # Zeus's name for the metric's direction.
        if hasattr(job, "higher_is_better_metric"):
            kw["higher_is_better_metric"] = job.higher_is_better_metric
        return cls(**kw)

    def __repr__(self):
        return "JobSpec(%s)" % ", ".join("%s=%r" % (f, getattr(self, f)) for f in self.FIELDS)


def _max_power_w(monitor):
    """Zeus's MaxPower: the first GPU's highest power limit x GPUs."""
    gpus = monitor.gpu_indices
    if not gpus:
        raise ValueError("joule: BatchSizeOptimizer needs a Monitor with GPUs, or max_power=")
    ctx = monitor._acquire()
    try:
        cur, lo, hi, dflt, enf = (c_double() for _ in range(5))
        rc = lib.joule_gpu_get_power_limit_w(ctx, gpus[0], byref(cur), byref(lo), byref(hi),
                                             byref(dflt), byref(enf))
    finally:
        monitor._release()
    if rc < 0:
        raise ValueError("joule: cannot read GPU %d's power-limit range (%s); pass max_power= "
                         "(the highest limit x GPUs, W)" % (gpus[0], _lib.last_error()))
    return hi.value * len(gpus)


class BatchSizeOptimizer:
    """One run of a recurring job: its batch size, and the verdict after
    each epoch's evaluation. Zeus's client semantics (see the module doc);
    ``rank`` other than 0 may not ask for a batch size (as in Zeus).

    ``monitor`` measures the job's GPUs (a :class:`joule.Monitor`); the
    energy reported is ``total_energy`` of its windows (GPUs, and CPUs and
    DRAM when the monitor has them). ``max_power`` (W, highest power limit
    x GPUs) defaults to what the monitor's first GPU reports.
    """

    def __init__(self, monitor, job, db=None, rank=0, max_power=None):
        if not _lib.has("joule_bso_open"):
            raise ImportError("joule: the loaded libjoule (%s) has no batch-size optimizer"
                              % _lib.path)
        self.monitor = monitor
        self.job = JobSpec.from_any(job)
        self.rank = int(rank)
        self.max_power = float(max_power) if max_power is not None else _max_power_w(monitor)
        self.current_batch_size = 0
        self.trial_number = 0
        self.cur_epoch = 0
        self.running_time = 0.0
        self.consumed_energy = 0.0
        self.training_finished = False
        self._window = None
        self._lock = threading.Lock()
        spec = c_void_p()
        check(lib.joule_bso_spec_create(self.job.job_id.encode(), byref(spec)))
        try:
            sizes = (c_int * len(self.job.batch_sizes))(*self.job.batch_sizes)
            j = self.job
            check(lib.joule_bso_spec_set_batch_sizes(spec, sizes, len(j.batch_sizes),
                                                     j.default_batch_size))
            check(lib.joule_bso_spec_set_target_metric(spec, j.target_metric,
                                                       int(j.higher_is_better_metric)))
            check(lib.joule_bso_spec_set_max_power_w(spec, self.max_power))
            check(lib.joule_bso_spec_set_max_epochs(spec, j.max_epochs))
            check(lib.joule_bso_spec_set_eta(spec, j.eta_knob))
            check(lib.joule_bso_spec_set_beta(spec, j.beta_knob))
            check(lib.joule_bso_spec_set_pruning_rounds(spec, j.num_pruning_rounds))
            check(lib.joule_bso_spec_set_explorations(spec, j.mab_num_explorations))
            check(lib.joule_bso_spec_set_window(spec, j.window_size))
            check(lib.joule_bso_spec_set_seed(spec, j.mab_seed))
            check(lib.joule_bso_spec_set_prune_factor(spec, j.prune_factor))
            handle = c_void_p()
            check(lib.joule_bso_open(spec, None if db is None else str(db).encode(),
                                     byref(handle)))
            self._bso = handle
        finally:
            lib.joule_bso_spec_destroy(spec)

    def close(self):
        """Closes the database (the trial's state is already stored)."""
        with self._lock:
            handle, self._bso = self._bso, None
        if handle:
            lib.joule_bso_close(handle)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _handle(self):
        if not self._bso:
            raise JouleError("joule: the batch-size optimizer is closed")
        return self._bso

    def get_next_batch_size(self):
        """The batch size of this run (a new trial; asked once per run)."""
        if self.rank != 0:
            raise JouleError("joule: only rank 0 asks for a batch size")
        if self.current_batch_size:
            return self.current_batch_size
        trial, bs = c_int(), c_int()
        check(lib.joule_bso_next(self._handle(), byref(trial), byref(bs)))
        self.trial_number, self.current_batch_size = trial.value, bs.value
        self.cur_epoch = 0
        self.running_time = self.consumed_energy = 0.0
        self.training_finished = False
        return self.current_batch_size

    #: Zeus's name.
    get_batch_size = get_next_batch_size

    def on_train_begin(self):
        """Starts measuring this run."""
        if not self.current_batch_size:
            raise JouleError("joule: call get_next_batch_size() before on_train_begin()")
        self.training_finished = False
        self.monitor.begin_window("__BatchSizeOptimizer_%d" % self.trial_number, sync=True)
        self._window = True

    def on_evaluate(self, metric):
        """After each epoch's validation: True when the target is reached
        (stop training, done), False to go on. Raises
        :class:`BatchSizeTrainFailError` when the run must stop without
        converging."""
        if not self.current_batch_size:
            raise JouleError("joule: call get_next_batch_size() first")
        if self.training_finished:
            return True
        if self._window is None:
            raise JouleError("joule: call on_train_begin() before on_evaluate()")
        m = self.monitor.end_window("__BatchSizeOptimizer_%d" % self.trial_number)
        self._window = None
        self.cur_epoch += 1
        self.running_time += m.time
        self.consumed_energy += m.total_energy
        verdict = c_int()
        check(lib.joule_bso_epoch(self._handle(), self.trial_number, self.cur_epoch,
                                  self.running_time, self.consumed_energy, float(metric),
                                  byref(verdict)))
        if verdict.value == CONTINUE:
            self.monitor.begin_window("__BatchSizeOptimizer_%d" % self.trial_number, sync=True)
            self._window = True
            return False
        self.training_finished = True
        if verdict.value == CONVERGED:
            return True
        why = ("its cost would pass %g x the least cost of a converged run" % self.job.beta_knob
               if verdict.value == STOP_COST else
               "max_epochs (%d) without reaching the target" % self.job.max_epochs)
        raise BatchSizeTrainFailError(
            "joule: batch size %d stops after epoch %d: %s; relaunch the job to try another "
            "batch size" % (self.current_batch_size, self.cur_epoch, why))

    @property
    def best_batch_size(self):
        """The converged batch size of least cost so far."""
        bs = c_int()
        check(lib.joule_bso_best(self._handle(), byref(bs)))
        return bs.value


# -- Hugging Face ---------------------------------------------------------

def _make_hf_class(trainer_callback):
    class HFBatchSizeCallback(trainer_callback):
        """Drives a :class:`BatchSizeOptimizer` from a Hugging Face
        ``Trainer``. Ask the batch size first and build the Trainer with
        it::

            bso = joule.BatchSizeOptimizer(monitor, spec)
            args = TrainingArguments(per_device_train_batch_size=
                                     bso.get_next_batch_size(), ...)
            Trainer(..., callbacks=[HFBatchSizeCallback(bso, "eval_accuracy")])

        ``on_evaluate`` reads ``metrics[metric_key]`` and stops training
        when the target is reached; a run that must stop without converging
        raises :class:`BatchSizeTrainFailError` out of ``Trainer.train``.
        """

        def __init__(self, optimizer, metric_key="eval_accuracy"):
            if not isinstance(optimizer, BatchSizeOptimizer):
                raise TypeError("joule: HFBatchSizeCallback needs a joule.BatchSizeOptimizer, "
                                "not %s" % type(optimizer).__name__)
            self.optimizer = optimizer
            self.metric_key = metric_key

        def on_train_begin(self, args, state, control, **kwargs):
            self.optimizer.on_train_begin()

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if not metrics or self.metric_key not in metrics:
                raise KeyError("joule: HFBatchSizeCallback: the evaluation metrics have no %r "
                               "(they have %s)" % (self.metric_key, sorted(metrics or {})))
            if self.optimizer.on_evaluate(metrics[self.metric_key]):
                control.should_training_stop = True

    HFBatchSizeCallback.__module__ = __name__
    return HFBatchSizeCallback


def hf_callback_class():
    """joule.HFBatchSizeCallback for the ``transformers`` now importable
    (joule/_hf.py). Raises ImportError without transformers."""
    return _hf.callback_class(_make_hf_class)


def __getattr__(name):
    if name == "HFBatchSizeCallback":
        try:
            return hf_callback_class()
        except Exception as e:
            raise AttributeError("joule.HFBatchSizeCallback needs the transformers package, "
                                 "which cannot be imported (%s: %s)" % (type(e).__name__, e))
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
