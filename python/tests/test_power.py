"""joule.PowerMonitor over libjoule's sampler, on simulated GPUs."""

import threading
import time
import unittest

import joule
from joule import _lib

from .support import h100_power


@unittest.skipUnless(_lib.has("joule_sampler_create"),
                     "libjoule has no sampler (joule_sampler_*)")
class PowerMonitorTest(unittest.TestCase):
    def setUp(self):
        self.pm = joule.PowerMonitor("sim:2:h100", interval_ms=5)
        self.addCleanup(self.pm.close)
        joule.sim.set_load(self.pm.monitor, 0, 0.5)
        time.sleep(0.02)

    def test_clock_is_time_monotonic(self):
        self.assertAlmostEqual(joule.now(), time.monotonic(), delta=0.01)

    def test_energy_and_timeline_follow_the_model(self):
        t0 = time.monotonic()
        time.sleep(0.3)
        t1 = joule.now()
        e = self.pm.energy(t0, t1)
        self.assertEqual(sorted(e), ["gpu0", "gpu1"])
        for label, load in (("gpu0", 0.5), ("gpu1", 0.0)):
            p = h100_power(load)
            # instant power has +-3 % noise per ms; sampled every 5 ms
            self.assertAlmostEqual(e[label], p * (t1 - t0),
                                   delta=0.03 * p * (t1 - t0) + 0.5)
        tl = self.pm.timeline("gpu0", "power", t0, t1)
        self.assertGreater(len(tl), 10)
        ts = [t for t, _ in tl]
        self.assertEqual(ts, sorted(ts))
        self.assertLessEqual(ts[0], t0)  # the sample in force at start
        for _, w in tl:
            self.assertAlmostEqual(w, 385.0, delta=0.031 * 385.0)
        self.assertEqual(self.pm.timeline(0, "power", t0, t1), tl)
        temps = self.pm.timeline("gpu0", "temp_c", t0, t1)
        self.assertTrue(temps)
        self.assertEqual(self.pm.dropped("gpu0"), 0)
        self.assertTrue(self.pm.has("gpu0", "power"))

    def test_stop_keeps_history(self):
        self.pm.stop()
        t = joule.now()
        time.sleep(0.05)
        n = len(self.pm.timeline("gpu0", "power", t, joule.now()))
        self.assertLessEqual(n, 1)  # only the sample in force at t
        self.assertTrue(self.pm.timeline("gpu0"))
        self.pm.start()

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            self.pm.timeline("gpu9")
        with self.assertRaises(ValueError):
            self.pm.timeline(7)
        with self.assertRaises(ValueError):
            self.pm.timeline("gpu0", "voltage")
        with self.assertRaises(TypeError):
            self.pm.timeline(1.5)
        with self.assertRaises(TypeError):
            self.pm.timeline("gpu0", 0)
        with self.assertRaises(TypeError):
            self.pm.energy("yesterday")
        with self.assertRaises(ValueError):
            self.pm.energy(5.0, 4.0)  # empty range
        with self.assertRaises(ValueError):
            joule.PowerMonitor("sim:1:h100", interval_ms=0)
        with self.assertRaises(TypeError):
            joule.PowerMonitor("sim:1:h100", interval_ms="fast")
        with self.assertRaises(joule.JouleError):  # one per context
            joule.PowerMonitor(self.pm.monitor)

    def test_threads(self):
        errors = []

        def reader():
            try:
                for _ in range(50):
                    self.pm.timeline("gpu1")
                    self.pm.energy()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        ts = [threading.Thread(target=reader) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])


@unittest.skipUnless(_lib.has("joule_sampler_create"),
                     "libjoule has no sampler (joule_sampler_*)")
class SharedMonitor(unittest.TestCase):
    def test_windows_and_power_on_one_monitor(self):
        with joule.Monitor(devices="sim:1:h100") as m:
            pm = joule.PowerMonitor(m, interval_ms=10)
            with m.window("w") as w:
                time.sleep(0.15)
            self.assertTrue(pm.timeline("gpu0"))
            pm.close()
            pm.close()
            with self.assertRaises(ValueError):
                pm.timeline("gpu0")
            # the monitor lives on, and may get a new sampler
            pm2 = joule.PowerMonitor(m)
            self.assertGreater(w.measurement.time, 0.15)
        # closing the monitor first frees the sampler too
        with self.assertRaises(ValueError):
            pm2.energy()
        pm2.close()


if __name__ == "__main__":
    unittest.main()
