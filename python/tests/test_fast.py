"""joule._fast, the window hot path in C, against the ctypes path.

Each test opens two monitors on the same kind of simulated devices, one
whose windows go through joule._fast and one forced onto ctypes, and
checks they give Measurements of the same shape and values that follow
the power model, the same exceptions, sync calls and flags. CTest runs the
whole suite with JOULE_FAST pointing at the built module (python_unittest)
and the monitor tests again with JOULE_FAST=0 (python_unittest_ctypes).
"""

import copy
import os
import pickle
import resource
import shutil
import signal
import tempfile
import threading
import time
import unittest

import joule
from joule import _fastpath
from joule import monitor as _monitor

from .support import h100_power

FAST_ENV = os.environ.get("JOULE_FAST")
FAST_OFF = FAST_ENV is not None and FAST_ENV.strip().lower() in (
    "0", "off", "no", "false", "")


def open_pair(spec, **kw):
    """(fast monitor, ctypes monitor) on the same device spec."""
    fast = joule.Monitor(devices=spec, **kw)
    slow = joule.Monitor(devices=spec, **kw)
    slow._fastw, w = None, slow._fastw
    if w is not None:
        w.close()
    return fast, slow


class Loading(unittest.TestCase):
    def test_environment_decides(self):
        if FAST_OFF:
            self.assertIsNone(_monitor._fast)
            self.assertFalse(joule.Monitor(devices="sim:1:h100").fast)
        elif FAST_ENV:
            # An explicit path must load, not fall back silently.
            self.assertIsNotNone(_monitor._fast, "JOULE_FAST=%s" % FAST_ENV)
            self.assertTrue(joule.Monitor(devices="sim:1:h100").fast)

    def test_a_bad_path_is_an_import_error(self):
        old = os.environ.get("JOULE_FAST")
        os.environ["JOULE_FAST"] = "/nonexistent/_fast.so"
        try:
            with self.assertRaises(ImportError) as cm:
                _fastpath.load(joule.Measurement)
            self.assertIn("/nonexistent/_fast.so", str(cm.exception))
        finally:
            if old is None:
                del os.environ["JOULE_FAST"]
            else:
                os.environ["JOULE_FAST"] = old


@unittest.skipIf(_monitor._fast is None,
                 "joule._fast is not loaded (not built: no Python development "
                 "headers, or JOULE_FAST=0); the ctypes path is tested alone")
class FastAgainstCtypes(unittest.TestCase):
    def setUp(self):
        self.fast, self.slow = open_pair("sim:4:h100")
        self.addCleanup(self.fast.close)
        self.addCleanup(self.slow.close)
        self.assertTrue(self.fast.fast)
        self.assertFalse(self.slow.fast)

    def test_same_measurement(self):
        for m in (self.fast, self.slow):
            joule.sim.set_load(m, 1, 1.0)
            m.learn_timing()
        time.sleep(0.11)
        self.fast.begin_window("w")
        self.slow.begin_window("w")
        time.sleep(0.5)
        a = self.slow.end_window("w")
        b = self.fast.end_window("w")
        self.assertIs(type(b), joule.Measurement)
        for attr in joule.Measurement.__slots__:
            if attr.startswith("_"):  # private: set only by reduce="job"
                continue
            va, vb = getattr(a, attr), getattr(b, attr)
            self.assertIs(type(va), type(vb), attr)
            if isinstance(va, dict):
                self.assertEqual(list(va), list(vb), attr)
        self.assertEqual(b.name, "w")
        self.assertEqual(b.quality, a.quality)
        self.assertEqual(b.status, a.status)
        self.assertEqual(b.cpu_energy, {})
        self.assertEqual(b.dram_energy, {})
        self.assertAlmostEqual(b.time, a.time, delta=0.01)
        self.assertAlmostEqual(b.start_time, a.start_time, delta=0.01)
        for gpu in range(4):
            p = h100_power(1.0 if gpu == 1 else 0.0)
            for r in (a, b):
                # the model within the bound and the sim's noise
                self.assertAlmostEqual(r.gpu_energy[gpu], p * r.time,
                                       delta=r.uncertainty[gpu] + 0.01 * p * r.time)
                self.assertEqual(r.energy["gpu%d" % gpu], r.gpu_energy[gpu])
                self.assertEqual(r.energy_uncertainty["gpu%d" % gpu],
                                 r.uncertainty[gpu])
        self.assertAlmostEqual(b.total_energy, sum(b.gpu_energy.values()),
                               places=9)

    def test_same_errors(self):
        for m in (self.fast, self.slow):
            m.begin_window("open")
            with self.assertRaises(joule.AlreadyExistsError):
                m.begin_window("open")
            m.begin_window("open", restart=True)
            self.assertIsNotNone(m.end_window("open"))
            with self.assertRaises(joule.NotFoundError) as cm:
                m.end_window("open")
            self.assertIn("open", str(cm.exception))
            self.assertIsInstance(cm.exception, ValueError)
            with self.assertRaises(TypeError):
                m.begin_window(3)
            with self.assertRaises(TypeError):
                m.end_window(b"bytes")
            with self.assertRaises(joule.InvalidArgumentError) as cm:
                m.begin_window("a\0b")
            self.assertIn("NUL", str(cm.exception))
            m.begin_window("x")
            cancelled = m.end_window("x", cancel=True)  # Zeus: an empty one
            self.assertEqual(cancelled.time, 0)
            self.assertEqual(sum(cancelled.gpu_energy.values()), 0)
            self.assertEqual(m.open_window_count(), 0)
            m.begin_window("left open")
            m.close()
            with self.assertRaises(joule.InvalidArgumentError) as cm:
                m.begin_window("y")
            self.assertIn("closed", str(cm.exception))
            with self.assertRaises(joule.InvalidArgumentError):
                m.end_window("left open")

    def test_unicode_names(self):
        name = "étape-\u2603"
        for m in (self.fast, self.slow):
            m.begin_window(name)
            self.assertEqual(m.end_window(name).name, name)

    def test_sync_runs_at_each_edge_unless_off(self):
        calls = []
        fast, slow = open_pair("sim:1:h100", sync=lambda: calls.append(1))
        for m in (fast, slow):
            del calls[:]
            m.begin_window("s")
            m.end_window("s")
            self.assertEqual(len(calls), 2)
            m.begin_window("s", sync=False)
            m.end_window("s", sync_execution=False)
            self.assertEqual(len(calls), 2)
            m.close()

    def test_failed_sync_cancels_the_window(self):
        def boom():
            raise RuntimeError("sync failed")
        fast, slow = open_pair("sim:1:h100", sync=boom)
        for m in (fast, slow):
            m.begin_window("s", sync=False)
            with self.assertRaises(RuntimeError):
                m.end_window("s")
            self.assertEqual(m.open_window_count(), 0)
            m.close()

    def test_measured_but_failed_end_carries_the_measurement(self):
        # The window log cannot grow (RLIMIT_FSIZE at its size, SIGXFSZ
        # ignored): the window is measured, writing its row fails.
        d = tempfile.mkdtemp(prefix="joule-fast-")
        self.addCleanup(shutil.rmtree, d, True)
        for k, forced_ctypes in enumerate((False, True)):
            log = os.path.join(d, "log%d.csv" % k)
            m = joule.Monitor(devices="sim:1:h100", log_file=log)
            if forced_ctypes:
                m._fastw.close()
                m._fastw = None
            m.begin_window("w")
            old = resource.getrlimit(resource.RLIMIT_FSIZE)
            handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(log), old[1]))
            try:
                m.end_window("w")
                err = None
            except joule.JouleError as e:
                err = e
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, old)
                signal.signal(signal.SIGXFSZ, handler)
            m.close()
            self.assertIsNotNone(err, "the log row was written")
            self.assertIn("window log", str(err))
            got = err.measurement
            self.assertIs(type(got), joule.Measurement)
            self.assertEqual(got.name, "w")
            self.assertEqual(list(got.gpu_energy), [0])

    def test_threads_and_close_while_windows_run(self):
        errors, done = [], []

        def worker(k):
            n = 0
            try:
                while True:
                    self.fast.begin_window("t%d" % k, sync=False)
                    r = self.fast.end_window("t%d" % k, sync=False)
                    self.assertEqual(len(r.gpu_energy), 4)
                    n += 1
            except joule.InvalidArgumentError as e:  # closed under us
                if "closed" not in str(e):
                    errors.append(e)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            done.append(n)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        self.fast.close()
        for t in threads:
            t.join(10)
        self.assertEqual(errors, [])
        self.assertEqual(len(done), 4)
        self.assertGreater(sum(done), 0)

    def test_dicts_are_built_on_first_use(self):
        self.fast.begin_window("w")
        m = self.fast.end_window("w")
        pending = object.__getattribute__(m, "_pending")
        self.assertIsNotNone(pending)
        self.assertGreater(m.time, 0)  # set at the end, not pending
        self.assertIsNone(m.nodes)
        self.assertIsNone(getattr(m, "_nodes", None))
        with self.assertRaises(AttributeError) as cm:
            m.no_such_attribute  # noqa: B018
        self.assertIn("no_such_attribute", str(cm.exception))
        energy = m.energy  # builds every dict, once
        with self.assertRaises(AttributeError):
            object.__getattribute__(m, "_pending")
        self.assertIs(m.energy, energy)
        self.assertEqual(sorted(m.gpu_energy), [0, 1, 2, 3])
        self.assertEqual(set(m.uncertainty), {0, 1, 2, 3})
        self.assertAlmostEqual(m.total_energy, sum(m.gpu_energy.values()),
                               places=9)
        with self.assertRaises(TypeError):  # only into a Measurement
            pending.fill(object())

    def test_pickle_and_copy_build_the_dicts(self):
        for ended in (self.fast, self.slow):
            ended.begin_window("p")
            m = ended.end_window("p")
            for proto in range(pickle.HIGHEST_PROTOCOL + 1):
                got = pickle.loads(pickle.dumps(m, proto))
                self.assertIs(type(got), joule.Measurement)
                self.assertEqual((got.name, got.time, got.gpu_energy, got.quality),
                                 (m.name, m.time, m.gpu_energy, m.quality))
            ended.begin_window("c")
            c = copy.copy(ended.end_window("c"))  # still pending when copied
            self.assertEqual(len(c.gpu_energy), 4)
            self.assertTrue(repr(c).startswith("Measurement('c'"))

    def test_reset_windows_cancels_fast_windows(self):
        self.fast.begin_window("a")
        self.fast.begin_window("b")
        self.fast.end_window("a")
        self.assertEqual(self.fast._windows, {"b"})
        self.fast.reset_windows()
        self.assertEqual(self.fast.open_window_count(), 0)
        with self.assertRaises(joule.NotFoundError):
            self.fast.end_window("b")

    def test_many_devices(self):
        # Past the 16 devices a result is read into without allocating.
        m = joule.Monitor(devices="sim:20:h100")
        self.addCleanup(m.close)
        self.assertTrue(m.fast)
        m.begin_window("w")
        r = m.end_window("w")
        self.assertEqual(sorted(r.gpu_energy), list(range(20)))
        self.assertEqual(len(r.quality), 20)


def same_within(a, b, tol):
    """a == b, but floats (times) may differ by tol."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tol
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_within(a[k], b[k], tol) for k in a)
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(same_within(x, y, tol) for x, y in zip(a, b))
    return a == b


@unittest.skipIf(_monitor._fast is None,
                 "joule._fast is not loaded; PowerMonitor's queries use ctypes alone")
class SamplerQueries(unittest.TestCase):
    """PowerMonitor's timeline and energy queries through joule._fast give
    exactly what the ctypes path gives on the same history."""

    def setUp(self):
        self.pm = joule.PowerMonitor(devices="sim:2:h100", interval_ms=2)
        self.addCleanup(self.pm.close)
        time.sleep(0.3)

    def both(self, fn):
        fast = fn()
        saved, _monitor._fast = _monitor._fast, None
        try:
            slow = fn()
        finally:
            _monitor._fast = saved
        return fast, slow

    def test_same_answers(self):
        pm = self.pm
        self.pm.stop()  # one history for both paths
        t0, t1 = pm.covered()
        mid = (t0 + t1) / 2
        d = pm.devices[1]
        for start, end in ((None, None), (mid, None), (mid, t1), (t1 + 5, t1 + 6)):
            fast, slow = self.both(lambda: pm.timeline(d, "power", start, end))
            self.assertEqual(fast, slow, (start, end))
            self.assertTrue(all(type(p) is tuple and len(p) == 2 for p in fast))
        self.assertGreater(len(pm.timeline(d)), 10)
        fast, slow = self.both(lambda: pm.energy(mid, t1))
        self.assertEqual(fast, slow)
        self.assertEqual(sorted(fast), ["gpu0", "gpu1"])
        # Zeus's wall-clock timelines: each call reads the wall offset anew.
        off = joule.power.wall_offset()
        fast, slow = self.both(lambda: pm.get_power_timeline(
            "device_instant", None, mid + off, t1 + off))
        self.assertGreaterEqual(min(t for t, _ in fast[0]), mid + off)
        for fast, slow in (fast, slow), self.both(pm.get_all_power_timelines):
            self.assertTrue(same_within(fast, slow, 1e-3))

    def test_errors_and_a_closed_monitor(self):
        with self.assertRaises(joule.InvalidArgumentError):
            self.pm.timeline(self.pm.devices[0], "no such domain")
        with self.assertRaises(joule.InvalidArgumentError):
            self.pm.energy(5.0, 1.0)  # end before start
        self.pm.close()
        with self.assertRaises(joule.InvalidArgumentError):
            self.pm.timeline(self.pm.devices[0])
        with self.assertRaises(joule.InvalidArgumentError):
            self.pm.energy()


if __name__ == "__main__":
    unittest.main()
