"""joule.PowerLimitOptimizer on simulated GPUs: it profiles every candidate
limit, reaches done, keeps the limit the selector picks from its own
measurements, persists by job, and rejects bad arguments."""

import os
import shutil
import tempfile
import time
import unittest
import warnings

import joule
from joule import _lib

WORK_PER_STEP = 0.02  # full-speed seconds of simulated work per step


def train_step(monitor, plo):
    """One step: a fixed amount of simulated GPU work, so a lower power
    limit makes the step slower, as on real hardware."""
    plo.on_step_begin()
    start = joule.sim.work_done(monitor, 0)
    while joule.sim.work_done(monitor, 0) - start < WORK_PER_STEP:
        pass


def zeus_cost(eta, p_max, n_gpus, time_s, energy_j):
    return eta * energy_j + (1 - eta) * p_max * n_gpus * time_s


@unittest.skipUnless(_lib.has("joule_plo_create"),
                     "libjoule has no power-limit optimizer")
class PowerLimitOptimizerTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="joule-py-plo-")
        self.db = os.path.join(self.dir, "joule.db")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_to_done(self, monitor, plo, max_steps=1000):
        # Enough for windows lengthened on a busy machine (steps that vary
        # need more of them for their mean to be known to ±1 %).
        steps = 0
        while not plo.done and steps < max_steps:
            train_step(monitor, plo)
            steps += 1
        return steps

    def test_short_steps_are_measured_long_enough_and_said_once(self):
        # 1 ms steps: 10 of them are 10 ms windows, far from ±1 %; each
        # window goes on until it is known to ±1 % and a warning says so,
        # once, with the numbers.
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            joule.sim.set_load(m, 0, 1.0)
            # Windows are capped at 2 s: on a loaded machine the steps vary,
            # and each window may run to its cap (3 limits, 6 s at most).
            plo = joule.PowerLimitOptimizer(m, selector="energy", warmup_steps=2,
                                            profile_steps=10, pl_step=250,
                                            max_profile_s=2)
            with self.assertWarns(UserWarning) as cm:
                steps = 0
                deadline = time.monotonic() + 60
                while not plo.done and time.monotonic() < deadline:
                    plo.on_step_begin()
                    t = time.monotonic() + 0.001
                    while time.monotonic() < t:
                        pass
                    steps += 1
            self.assertTrue(plo.done)
            self.assertIn("10 steps of", str(cm.warning))
            self.assertIn("extended", str(cm.warning))
            self.assertGreater(steps, 3 * 12)  # more than 3 x (2 + 10) steps
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # said once: no second warning
                plo.on_step_begin()

    def test_uncertainty_is_keyed_like_gpu_energy(self):
        with joule.Monitor(devices="sim:2:h100", sync=None) as m:
            m.learn_timing()
            with m.window("w") as w:
                time.sleep(0.3)
        r = w.measurement
        self.assertEqual(sorted(r.uncertainty), sorted(r.gpu_energy))
        for i, e in r.gpu_energy.items():
            self.assertGreater(r.uncertainty[i], 0)
            self.assertLess(r.uncertainty[i], 0.05 * e)
            self.assertEqual(r.energy_uncertainty["gpu%d" % i], r.uncertainty[i])

    def test_profiles_each_limit_and_keeps_the_choice(self):
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            joule.sim.set_load(m, 0, 1.0)
            plo = joule.PowerLimitOptimizer(m, selector="cost:0.5",
                                            warmup_steps=1, profile_steps=5,
                                            pl_step=125)
            self.assertEqual(plo.state, "ready")
            self.assertIsNone(plo.optimal_power_limit)
            steps = self.run_to_done(m, plo)
            self.assertTrue(plo.done, "not done after %d steps" % steps)
            ms = plo.measurements
            self.assertEqual([pl for pl, _, _ in ms], [700, 575, 450, 325, 200])
            self.assertTrue(all(t > 0 and e > 0 for _, t, e in ms))
            best = min(ms, key=lambda x: zeus_cost(0.5, 700, 1, x[1], x[2]))
            self.assertEqual(plo.optimal_power_limit, best[0])
            self.assertEqual(plo.power_limit, best[0])
            plo.close()
            plo.close()  # idempotent
            with self.assertRaises(joule.InvalidArgumentError):
                plo.on_step_begin()

    def test_epoch_end_mid_profile_retries(self):
        with joule.Monitor(devices="sim:1:a100", sync=None) as m:
            joule.sim.set_load(m, 0, 1.0)
            plo = joule.PowerLimitOptimizer(m, warmup_steps=1, profile_steps=4,
                                            pl_step=150, selector="energy")
            for _ in range(3):  # warmup, then into the first profile
                train_step(m, plo)
            self.assertEqual(plo.state, "profile")
            plo.on_epoch_end()
            self.assertEqual(plo.measurements, [])  # the cut window is dropped
            self.run_to_done(m, plo)
            self.assertTrue(plo.done)
            self.assertEqual(plo.measurements[0][0], 400)  # retried, kept

    def test_same_job_skips_profiling(self):
        for run in range(2):
            with joule.Monitor(devices="sim:1:h100", sync=None) as m:
                joule.sim.set_load(m, 0, 1.0)
                plo = joule.PowerLimitOptimizer(m, warmup_steps=1,
                                                profile_steps=3, pl_step=250,
                                                job="unit-test", db=self.db)
                if run == 0:
                    self.assertFalse(plo.done)
                    self.run_to_done(m, plo)
                    chosen = plo.optimal_power_limit
                else:
                    self.assertTrue(plo.done)  # from the database, at once
                    self.assertEqual(plo.optimal_power_limit, chosen)
                    self.assertEqual(plo.power_limit, chosen)

    def test_bad_arguments(self):
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            with self.assertRaises(TypeError):
                joule.PowerLimitOptimizer(m, warmup_steps="3")
            with self.assertRaises(ValueError):
                joule.PowerLimitOptimizer(m, profile_steps=0)
            with self.assertRaises(ValueError) as cm:
                joule.PowerLimitOptimizer(m, selector="bogus")
            self.assertIn("bogus", str(cm.exception))
            with self.assertRaises(ValueError):
                joule.PowerLimitOptimizer(m, selector=("cost", 1.5))
            with self.assertRaises(TypeError):
                joule.PowerLimitOptimizer("not a monitor")


if __name__ == "__main__":
    unittest.main()
