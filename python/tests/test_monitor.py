"""joule.Monitor windows on simulated GPUs, checked against the power model
(docs/sim.md) and against the numbers the C library itself wrote for the
same windows (its CSV / JSON-lines log)."""

import asyncio
import ctypes
import math
import os
import tempfile
import threading
import time
import unittest

import joule
from joule import _lib

from . import support
from .support import counter_slack, h100_power, settle


class WindowValues(unittest.TestCase):
    def setUp(self):
        self.m = joule.Monitor(devices="sim:2:h100")
        self.addCleanup(self.m.close)

    def test_energy_follows_the_power_model(self):
        joule.sim.set_load(self.m, 0, 0.5)  # 385 W
        self.m.learn_timing()  # so both edges sit at their true instants
        settle()
        self.m.begin_window("step")
        time.sleep(1.0)
        r = self.m.end_window("step")
        self.assertIsInstance(r, joule.Measurement)
        self.assertEqual(r.name, "step")
        self.assertGreaterEqual(r.time, 1.0)
        self.assertLess(r.time, 1.0 + 1.0)
        self.assertEqual(sorted(r.gpu_energy), [0, 1])
        self.assertEqual(r.cpu_energy, {})
        self.assertEqual(r.dram_energy, {})
        for gpu, load in ((0, 0.5), (1, 0.0)):
            p = h100_power(load)
            # power × time within the reported bound (the sim's noise
            # is zero-sum), and the bound within 1 %: "exact"
            self.assertAlmostEqual(r.gpu_energy[gpu], p * r.time,
                                   delta=r.uncertainty[gpu] + 0.05)
            self.assertLessEqual(r.uncertainty[gpu], 0.01 * r.gpu_energy[gpu])
        self.assertEqual(r.quality, {"gpu0": "exact", "gpu1": "exact"})
        self.assertEqual(r.energy_uncertainty,
                         {"gpu0": r.uncertainty[0], "gpu1": r.uncertainty[1]})
        self.assertEqual(r.status, {"gpu0": None, "gpu1": None})
        self.assertTrue(r.exact)
        self.assertEqual(r.energy, {"gpu0": r.gpu_energy[0],
                                    "gpu1": r.gpu_energy[1]})
        self.assertAlmostEqual(r.total_energy,
                               r.gpu_energy[0] + r.gpu_energy[1], places=9)
        self.assertAlmostEqual(r.start_time, time.time() - r.time, delta=1.0)
        self.assertIn("step", repr(r))

    def test_short_window_is_flagged_below_resolution(self):
        joule.sim.set_load(self.m, 0, 1.0)
        settle()
        self.m.begin_window("blip")
        time.sleep(0.002)
        r = self.m.end_window("blip")
        if r.time >= 0.1:
            self.skipTest("host too loaded for a 2 ms window")
        self.assertEqual(r.quality["gpu0"], "below_resolution")
        self.assertFalse(r.exact)
        # power x time, never a silent 0 (noise is at most 3 %)
        self.assertAlmostEqual(r.gpu_energy[0], 700.0 * r.time,
                               delta=0.03 * 700.0 * r.time + 1e-6)

    def test_devices_are_described(self):
        labels = [d.label for d in self.m.devices]
        self.assertEqual(labels, ["gpu0", "gpu1"])
        d = self.m.devices[0]
        self.assertTrue(d.simulated)
        self.assertEqual(d.backend, "sim")
        self.assertIn("H100", d.name)
        self.assertEqual(d.update_period_us, 100000.0)
        self.assertEqual(self.m.gpu_indices, [0, 1])
        self.assertEqual(self.m.cpu_indices, [])
        with self.assertRaises(AttributeError):
            d.label = "x"
        self.assertEqual(self.m.spec, "sim:2:h100")

    def test_cumulative_energy_and_power(self):
        joule.sim.set_load(self.m, 1, 1.0)
        settle()
        p = self.m.power()
        self.assertAlmostEqual(p["gpu1"], 700.0, delta=0.03 * 700)
        self.assertAlmostEqual(p["gpu0"], 70.0, delta=0.03 * 70)
        e = self.m.energy()
        self.assertGreater(e["gpu1"], e["gpu0"])
        self.assertGreater(joule.sim.work_done(self.m, 1), 0.0)


class AgainstTheCLibrary(unittest.TestCase):
    """The Measurement holds exactly what libjoule computed for the window:
    the library writes its own numbers to the log, and the ctypes results
    of a window opened directly through the C API agree with the model in
    the same way."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="joule-py-")
        self.addCleanup(lambda: __import__("shutil").rmtree(self.dir, True))

    def _run(self, log):
        with joule.Monitor(devices="sim:2:h100,p100", log_file=log) as m:
            joule.sim.set_load(m, 0, 0.8)
            joule.sim.set_load(m, 1, 0.3)
            m.learn_timing()
            settle()
            out = []
            with m.window("outer") as outer:
                for i in range(2):
                    with m.window("inner%d" % i) as w:
                        time.sleep(0.12)
                    out.append(w.measurement)
            out.append(outer.measurement)
            return out

    def test_csv_log_matches(self):
        log = os.path.join(self.dir, "w.csv")
        ms = self._run(log)
        rows = support.read_csv_log(log)
        self.assertEqual([r["window_name"] for r in rows],
                         ["inner0", "inner1", "outer"])
        for m, row in zip(ms, rows):
            self.assertAlmostEqual(float(row["elapsed_time"]), m.time,
                                   delta=1e-6)
            self.assertAlmostEqual(float(row["start_time"]), m.start_time,
                                   delta=1e-6)
            for gpu in (0, 1):
                self.assertAlmostEqual(float(row["gpu%d_energy" % gpu]),
                                       m.gpu_energy[gpu], delta=1e-6)
        # p100 has no counter: integrated from power (never exact)
        self.assertIn(ms[0].quality["gpu0"], ("exact", "approx"))
        self.assertEqual(ms[0].quality["gpu1"], "approx")

    def test_jsonl_log_matches(self):
        log = os.path.join(self.dir, "w.jsonl")
        ms = self._run(log)
        rows = support.read_jsonl_log(log)
        self.assertEqual(len(rows), 3)
        for m, row in zip(ms, rows):
            self.assertEqual(row["window_name"], m.name)
            self.assertAlmostEqual(row["elapsed_time_s"], m.time, places=9)
            self.assertAlmostEqual(row["total_energy_j"], m.total_energy,
                                   places=9)
            for label, dev in row["devices"].items():
                self.assertAlmostEqual(dev["energy_j"], m.energy[label],
                                       places=9)
                self.assertEqual(dev["quality"], m.quality[label])

    def test_direct_c_window_on_the_same_context(self):
        lib = _lib.lib
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            joule.sim.set_load(m, 0, 0.5)
            settle()
            ctx = m._acquire()
            try:
                self.assertEqual(lib.joule_window_begin(ctx, b"c", 0), 0)
                m.begin_window("py")
                time.sleep(0.25)
                py = m.end_window("py")
                r = ctypes.c_void_p()
                self.assertEqual(lib.joule_window_end(ctx, b"c", 0,
                                                      ctypes.byref(r)), 0)
                c_time = lib.joule_result_time_s(r)
                c_energy = lib.joule_result_energy_j(r, 0, None, None)
                c_total = lib.joule_result_total_all_j(r)
                lib.joule_result_free(r)
            finally:
                m._release()
        # The C window encloses the Python one by microseconds.
        self.assertGreaterEqual(c_time, py.time)
        self.assertLess(c_time - py.time, 0.05)
        # Both counter differences at 385 W; they may differ by one update.
        self.assertAlmostEqual(py.gpu_energy[0], c_energy,
                               delta=2 * counter_slack(385.0))
        self.assertEqual(c_total, c_energy)
        self.assertAlmostEqual(py.gpu_energy[0], 385.0 * py.time,
                               delta=counter_slack(385.0))


class ContextManagerAndDecorator(unittest.TestCase):
    def setUp(self):
        self.m = joule.Monitor(devices="sim:2:h100")
        self.addCleanup(self.m.close)

    def test_with_block(self):
        self.m.learn_timing()
        with self.m.window("step") as w:
            self.assertEqual(self.m.open_window_count(), 1)
            time.sleep(0.11)
        self.assertEqual(self.m.open_window_count(), 0)
        self.assertIsInstance(w.measurement, joule.Measurement)
        self.assertGreaterEqual(w.measurement.time, 0.11)
        self.assertIn(w.measurement.quality["gpu0"], ("exact", "approx"))

    def test_decorator(self):
        seen = []

        @self.m.window("fn", on_end=seen.append)
        def work(x, y=1):
            """doc"""
            self.assertEqual(self.m.open_window_count(), 1)
            return x + y

        self.assertEqual(work.__name__, "work")
        self.assertEqual(work.__doc__, "doc")
        self.assertEqual(work(2, y=3), 5)
        self.assertEqual(work(4), 5)
        self.assertEqual(len(seen), 2)
        self.assertIs(work.measurement, seen[-1])
        self.assertIs(work.window.measurement, seen[-1])
        self.assertEqual(seen[0].name, "fn")
        self.assertEqual(self.m.open_window_count(), 0)

    def test_async_decorator_and_async_with(self):
        @self.m.window("coro")
        async def work():
            await asyncio.sleep(0.01)
            return 7

        async def main():
            self.assertEqual(await work(), 7)
            async with self.m.window("block") as w:
                await asyncio.sleep(0.01)
            return w.measurement

        m = asyncio.run(main())
        self.assertEqual(m.name, "block")
        self.assertEqual(work.measurement.name, "coro")
        self.assertEqual(self.m.open_window_count(), 0)

    def test_nested_and_overlapping(self):
        with self.m.window("outer") as outer:
            time.sleep(0.02)
            with self.m.window("inner") as inner:
                time.sleep(0.15)
            self.m.begin_window("overlap")
            time.sleep(0.02)
        ov = self.m.end_window("overlap")
        o, i = outer.measurement, inner.measurement
        self.assertGreater(o.time, i.time)
        self.assertGreater(ov.time, 0.0)
        for gpu in (0, 1):  # counters are monotonic
            self.assertGreaterEqual(o.gpu_energy[gpu], i.gpu_energy[gpu])
        self.assertEqual(self.m.open_window_count(), 0)

    def test_same_window_object_nested_is_an_error(self):
        w = self.m.window("again")
        with w:
            with self.assertRaises(joule.AlreadyExistsError):
                with w:
                    pass
        self.assertEqual(self.m.open_window_count(), 0)

    def test_exception_cancels_the_window(self):
        log = os.path.join(tempfile.mkdtemp(prefix="joule-py-"), "w.csv")
        with joule.Monitor(devices="sim:1:h100", log_file=log) as m:
            w = m.window("boom")
            with self.assertRaises(ZeroDivisionError):
                with w:
                    1 / 0
            self.assertIsNone(w.measurement)
            self.assertEqual(m.open_window_count(), 0)

            @m.window("deco")
            def fails():
                raise KeyError("x")

            for _ in range(3):
                with self.assertRaises(KeyError):
                    fails()
            self.assertEqual(m.open_window_count(), 0)
            # BaseException (Ctrl-C) too
            with self.assertRaises(KeyboardInterrupt):
                with m.window("boom"):
                    raise KeyboardInterrupt
            self.assertEqual(m.open_window_count(), 0)
            # the names are free again; only this window reaches the log
            with m.window("boom"):
                pass
        rows = support.read_csv_log(log)
        self.assertEqual([r["window_name"] for r in rows], ["boom"])

    def test_exception_when_the_block_already_ended_the_window(self):
        with self.assertRaises(RuntimeError):
            with self.m.window("w"):
                self.m.end_window("w")
                raise RuntimeError("after end")
        self.assertEqual(self.m.open_window_count(), 0)

    def test_end_window_cancel(self):
        self.m.begin_window("c")
        empty = self.m.end_window("c", cancel=True)  # Zeus: empty result
        self.assertEqual(empty.time, 0.0)
        self.assertEqual(set(empty.gpu_energy.values()), {0.0})
        with self.assertRaises(joule.NotFoundError):
            self.m.end_window("c")

    def test_restart(self):
        self.m.begin_window("r")
        time.sleep(0.05)
        self.m.begin_window("r", restart=True)
        r = self.m.end_window("r")
        self.assertLess(r.time, 0.05)


class Lifetime(unittest.TestCase):
    def test_close_is_idempotent_and_blocks_use(self):
        m = joule.Monitor(devices="sim:1:h100")
        m.begin_window("left-open")
        m.close()
        m.close()
        self.assertTrue(m.closed)
        self.assertEqual(repr(m), "Monitor(closed)")
        with self.assertRaises(ValueError):
            m.begin_window("x")
        with self.assertRaises(joule.JouleError):
            m.end_window("left-open")

    def test_nothing_leaks(self):
        """Monitors, windows, exceptions and logs leave no threads or file
        descriptors behind."""
        d = tempfile.mkdtemp(prefix="joule-py-")
        # warm up lazily created things (ctypes, the library's state)
        with joule.Monitor(devices="sim:1:h100") as m:
            m.begin_window("w")
            m.end_window("w")
        fds, threads = support.open_fds(), support.os_threads()
        for n in range(20):
            with joule.Monitor(devices="sim:2:h100",
                               log_file=os.path.join(d, "l%d.csv" % n)) as m:
                for i in range(20):
                    try:
                        with m.window("w%d" % i):
                            if i % 2:
                                raise ValueError
                    except ValueError:
                        pass
                self.assertEqual(m.open_window_count(), 0)
            m2 = joule.Monitor(devices="sim:1:h100")
            m2.begin_window("dropped")
            del m2  # __del__ closes it
        self.assertEqual(support.open_fds(), fds)
        self.assertEqual(support.os_threads(), threads)
        with open(os.path.join(d, "l0.csv")) as f:
            self.assertEqual(len(f.readlines()), 1 + 10)


class Threads(unittest.TestCase):
    def test_many_threads_share_a_monitor(self):
        calls = []
        lock = threading.Lock()

        def hook():
            with lock:
                calls.append(threading.get_ident())

        m = joule.Monitor(devices="sim:2:h100", sync=hook)
        self.addCleanup(m.close)
        results, errors = {}, []

        def worker(t):
            try:
                for i in range(50):
                    with m.window("t%d-%d" % (t, i % 3)) as w:
                        with m.window("t%d-inner" % t):
                            pass
                    results.setdefault(t, []).append(w.measurement)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,))
                   for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(sorted(results), list(range(8)))
        for t in range(8):
            self.assertEqual(len(results[t]), 50)
            for r in results[t]:
                self.assertFalse(math.isnan(r.total_energy))
        self.assertEqual(len(calls), 8 * 50 * 4)
        self.assertEqual(m.open_window_count(), 0)

    def test_close_waits_for_calls_in_flight(self):
        entered, release = threading.Event(), threading.Event()

        def slow_sync():
            entered.set()
            release.wait(5)

        m = joule.Monitor(devices="sim:1:h100", sync=slow_sync)
        t = threading.Thread(target=m.begin_window, args=("w",))
        t.start()
        self.assertTrue(entered.wait(5))
        closer = threading.Thread(target=m.close)
        closer.start()
        time.sleep(0.05)
        self.assertTrue(closer.is_alive())  # waiting for begin_window
        release.set()
        t.join(5)
        closer.join(5)
        self.assertFalse(closer.is_alive())
        self.assertTrue(m.closed)


class DeviceSelection(unittest.TestCase):
    """gpus/cpus/devices, including CPU packages and DRAM on a fake RAPL
    tree (energies written by the test, so the values are exact)."""

    def setUp(self):
        self.rapl = support.FakeRapl()
        self.addCleanup(self.rapl.cleanup)

    def test_cpu_and_dram_values(self):
        # The fake tree's counters change only when written, not every
        # ~1 ms like RAPL's: plain counter differences are what to check.
        with joule.Monitor(cpus=[0], devices="sim:1:h100",
                           sysfs_root=self.rapl.root, edge_correction=False) as m:
            self.assertEqual(sorted(d.label for d in m.devices),
                             ["cpu0", "dram0", "gpu0"])
            self.assertEqual(m.cpu_indices, [0])
            m.begin_window("w")
            self.rapl.set("intel-rapl:0", 1_000_000 + 2_500_000)   # +2.5 J
            self.rapl.set("intel-rapl:0:0", 500_000 + 750_000)     # +0.75 J
            time.sleep(0.12)
            r = m.end_window("w")
        self.assertEqual(r.cpu_energy, {0: 2.5})
        self.assertEqual(r.dram_energy, {0: 0.75})
        self.assertIn(r.quality["cpu0"], ("exact", "approx"))
        self.assertGreater(r.cpu_uncertainty[0], 0)
        self.assertAlmostEqual(r.total_energy,
                               r.gpu_energy[0] + 2.5 + 0.75, places=9)

    def test_optional_kinds(self):
        root = self.rapl.root
        # cpus=[0] and gpus=None: GPUs if any (none on a CI host), CPU 0.
        with joule.Monitor(cpu_indices=[0], sysfs_root=root) as m:
            self.assertEqual(m.cpu_indices, [0])
        # cpus=None next to gpus=[]: every CPU package there is.
        with joule.Monitor(gpus=[], sysfs_root=root) as m:
            self.assertEqual(m.cpu_indices, [0])
            self.assertEqual(m.gpu_indices, [])
        # cpus=None and no RAPL at all: not an error when GPUs are there
        empty = tempfile.mkdtemp(prefix="joule-py-empty-")
        with joule.Monitor(cpus=[], devices="sim:1:h100",
                           sysfs_root=empty) as m:
            self.assertEqual(m.cpu_indices, [])
        # ... but naming an absent CPU is.
        with self.assertRaises(joule.DeviceNotFoundError) as cm:
            joule.Monitor(cpus=[0], sysfs_root=empty)
        self.assertIn("cpu", str(cm.exception))

    def test_spec_building(self):
        from joule.monitor import device_specs
        self.assertEqual(device_specs(), [None])
        self.assertEqual(device_specs(gpus=[0, 1], cpus=[0]),
                         ["gpu:0,1+cpu:0"])
        self.assertEqual(device_specs(gpus=[1]), ["gpu:1+cpu", "gpu:1"])
        self.assertEqual(device_specs(cpus=[]), ["gpu"])
        self.assertEqual(device_specs(devices="sim:2:h100"), ["sim:2:h100"])
        self.assertEqual(device_specs(gpus=[0], devices="sim:2:h100"),
                         ["sim:2:h100+gpu:0"])
        self.assertEqual(device_specs(gpus=(2, 2, 0)),
                         ["gpu:2,0+cpu", "gpu:2,0"])

    def test_gpu_indices_select_sim_gpus(self):
        with joule.Monitor(gpu_indices=[1], devices="sim:2:h100") as m:
            # gpu_indices narrows the spec's GPUs (issue 14)
            self.assertEqual(m.gpu_indices, [1])
        with self.assertRaises(joule.DeviceNotFoundError) as cm:
            joule.Monitor(gpus=[5], devices="sim:2:h100")
        self.assertIn("gpu5", str(cm.exception))



if __name__ == "__main__":
    unittest.main()
