"""joule.BatchSizeOptimizer on simulated GPUs: recurrences of a job with
Zeus's client calls, the verdicts, the relaunch error, Zeus's JobSpec
names, the Hugging Face callback (with a stand-in transformers), and bad
input. The trials' arithmetic is tested in C (tests/test_bso_job.c)."""

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
import unittest

import joule
from joule import bso as bso_module

# Epochs each batch size needs to reach the target (64 never does).
EPOCHS_TO_TARGET = {16: 2, 32: 3, 64: 99}


def run(monitor, spec, db, epochs=10):
    """One run of the job: returns (batch size, 'converged' or the error)."""
    opt = joule.BatchSizeOptimizer(monitor, spec, db=db)
    try:
        bs = opt.get_next_batch_size()
        opt.on_train_begin()
        for epoch in range(1, epochs + 1):
            time.sleep(0.01)  # the "training" of one epoch
            metric = 0.95 if epoch >= EPOCHS_TO_TARGET[bs] else 0.5
            if opt.on_evaluate(metric):
                return bs, "converged"
        return bs, "ran out"
    except joule.BatchSizeTrainFailError as e:
        return bs, e
    finally:
        opt.close()


class BatchSizeOptimizerTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="joule-py-bso-")
        self.db = os.path.join(self.dir, "joule.db")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def spec(self, **kw):
        args = dict(job_id="py-job", batch_sizes=[16, 32, 64], default_batch_size=32,
                    target_metric=0.9, max_epochs=6)
        args.update(kw)
        return joule.JobSpec(**args)

    def test_recurrences(self):
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            joule.sim.set_load(m, 0, 1.0)
            # The default first, converging at epoch 3.
            self.assertEqual(run(m, self.spec(), self.db), (32, "converged"))
            # Down to 16: converges sooner.
            self.assertEqual(run(m, self.spec(), self.db), (16, "converged"))
            # Up to 64: never converges; stopped early with a clear error.
            bs, err = run(m, self.spec(), self.db)
            self.assertEqual(bs, 64)
            self.assertIsInstance(err, joule.BatchSizeTrainFailError)
            self.assertIn("relaunch", str(err))
            self.assertIs(bso_module.ZeusBSOTrainFailError, joule.BatchSizeTrainFailError)
            # Later runs choose among 16 and 32 only, mostly the cheaper 16.
            picks = [run(m, self.spec(), self.db)[0] for _ in range(6)]
            self.assertTrue(set(picks) <= {16, 32}, picks)
            opt = joule.BatchSizeOptimizer(m, self.spec(), db=self.db)
            self.assertEqual(opt.best_batch_size, 16)
            self.assertGreater(opt.max_power, 600)  # the sim H100's 700 W
            opt.close()

    def test_zeus_spec_and_calls(self):
        zeus_like = types.SimpleNamespace(
            job_id=None, job_id_prefix="zeus-named", batch_sizes=[16, 32, 64],
            default_batch_size=32, eta_knob=0.5, beta_knob=2.0, target_metric=0.9,
            higher_is_better_metric=True, max_epochs=6, num_pruning_rounds=2,
            window_size=0, mab_prior_mean=0.0, mab_prior_precision=0.0,
            mab_num_explorations=2, mab_seed=None)
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            opt = joule.BatchSizeOptimizer(m, zeus_like, db=self.db, max_power=700)
            self.assertEqual(opt.job.job_id, "zeus-named")
            self.assertEqual(opt.get_batch_size(), 32)  # Zeus's method name
            self.assertEqual(opt.get_batch_size(), 32)  # asked twice: same trial
            with self.assertRaises(joule.JouleError):
                opt.on_evaluate(0.5)  # before on_train_begin
            opt.close()
            other = joule.BatchSizeOptimizer(m, zeus_like, db=self.db, max_power=700, rank=1)
            with self.assertRaises(joule.JouleError):
                other.get_next_batch_size()
            other.close()

    def test_bad_input(self):
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            with self.assertRaises(joule.InvalidArgumentError) as c:
                joule.BatchSizeOptimizer(m, self.spec(default_batch_size=48), db=self.db)
            self.assertIn("default_batch_size", str(c.exception))
            with self.assertRaises(joule.InvalidArgumentError):
                joule.BatchSizeOptimizer(m, self.spec(eta_knob=2.0), db=self.db)
            with self.assertRaises(ValueError):
                joule.JobSpec(job_id="x", batch_sizes=[1], default_batch_size=1,
                              mab_prior_precision=1.0)
            joule.BatchSizeOptimizer(m, self.spec(), db=self.db).close()
            with self.assertRaises(joule.AlreadyExistsError) as c:
                joule.BatchSizeOptimizer(m, self.spec(max_epochs=7), db=self.db)
            self.assertIn("max_epochs", str(c.exception))
            missing = os.path.join(self.dir, "no", "such", "joule.db")
            with self.assertRaises(joule.NotFoundError):
                joule.BatchSizeOptimizer(m, self.spec(), db=missing)


class ExampleTest(unittest.TestCase):
    def test_example_script(self):
        here = os.path.dirname(os.path.abspath(__file__))
        example = os.path.join(os.path.dirname(os.path.dirname(here)), "examples",
                               "bso_train.py")
        env = dict(os.environ)
        pkg = os.path.dirname(os.path.dirname(os.path.abspath(joule.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg, env.get("PYTHONPATH")]))
        env.setdefault("JOULE_LIBRARY", joule.library_path)
        with tempfile.TemporaryDirectory(prefix="joule-py-bso-ex-") as d:
            p = subprocess.run([sys.executable, example, "--devices", "sim:1:h100",
                                "--recurrences", "5", "--db", os.path.join(d, "ex.db")],
                               capture_output=True, text=True, timeout=240, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = [line.split() for line in p.stdout.splitlines()[1:]]
        # Every recurrence ends with a converged run; the first is the default.
        self.assertEqual(rows[0][2], "64")
        done = [r for r in rows if r[-1] == "converged"]
        self.assertEqual([int(r[0]) for r in done], [1, 2, 3, 4, 5])
        # The walk goes down from 64 first: smaller sizes converge sooner here.
        self.assertLess(int(done[-1][2]), 64)


class HFBatchSizeCallbackTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="joule-py-bso-hf-")
        stub = types.ModuleType("transformers")

        class TrainerCallback:
            pass
        stub.TrainerCallback = TrainerCallback
        self.saved = sys.modules.get("transformers")
        sys.modules["transformers"] = stub

    def tearDown(self):
        if self.saved is None:
            sys.modules.pop("transformers", None)
        else:
            sys.modules["transformers"] = self.saved
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_trainer_loop(self):
        cls = joule.HFBatchSizeCallback
        self.assertTrue(issubclass(cls, sys.modules["transformers"].TrainerCallback))
        spec = joule.JobSpec(job_id="hf", batch_sizes=[16, 32], default_batch_size=32,
                             target_metric=0.9, max_epochs=6)
        control = types.SimpleNamespace(should_training_stop=False)
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            opt = joule.BatchSizeOptimizer(m, spec, db=os.path.join(self.dir, "j.db"))
            self.assertEqual(opt.get_next_batch_size(), 32)
            cb = cls(opt, metric_key="eval_acc")
            cb.on_train_begin(None, None, control)
            for epoch in range(1, 7):
                cb.on_evaluate(None, None, control, metrics={"eval_acc": 0.5 + 0.15 * epoch})
                if control.should_training_stop:
                    break
            self.assertEqual(epoch, 3)
            with self.assertRaises(KeyError):
                cb.on_evaluate(None, None, control, metrics={"eval_loss": 1.0})
            with self.assertRaises(TypeError):
                cls(object())
            opt.close()


if __name__ == "__main__":
    unittest.main()
