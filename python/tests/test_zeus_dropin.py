"""Issue 14: Zeus's documented usage runs on joule by changing the import.

Simulated GPUs answer to gpu_indices; the monitors follow Zeus's methods
and semantics; the power-limit optimizer reads and writes Zeus's profile
files, runs custom selectors, shows Zeus's state objects and decides
across torch.distributed ranks.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import joule
from joule import _lib
# (classes are looked up at use time: test_hf_callback reloads the package)

from . import support

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
HAS_SAMPLER = _lib.has("joule_sampler_create")
HAS_PLO = _lib.has("joule_plo_create")


class env_devices:
    """Sets $JOULE_DEVICES for a block (Zeus code names no devices)."""

    def __init__(self, spec):
        self.spec = spec

    def __enter__(self):
        self.old = os.environ.get("JOULE_DEVICES")
        os.environ["JOULE_DEVICES"] = self.spec

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop("JOULE_DEVICES", None)
        else:
            os.environ["JOULE_DEVICES"] = self.old


def child_env(**extra):
    env = dict(os.environ)
    for k in ("JOULE_DEVICES", "JOULE_JOB", "JOULE_DB", "JOULE_SIM_LOAD",
              "CUDA_VISIBLE_DEVICES"):
        env.pop(k, None)
    env.update(JOULE_LIBRARY=os.path.abspath(_lib.path)
               if os.sep in _lib.path else _lib.path,
               PYTHONPATH=os.pathsep.join(
                   [PYDIR] + [p for p in [env.get("PYTHONPATH")] if p]))
    env.update(extra)
    return env


class SimulatedGpuIndices(unittest.TestCase):
    """Item 1: gpu_indices index into simulated GPUs and only narrow."""

    def test_devices_and_gpu_indices_measure_only_those(self):
        # the issue: sim:4:h100 + gpu_indices=[0] measured all four
        with joule.Monitor(devices="sim:4:h100", gpu_indices=[0],
                           sync=None) as m:
            self.assertEqual(m.gpu_indices, [0])
            self.assertEqual([d.label for d in m.devices], ["gpu0"])
            joule.sim.set_load(m, 0, 0.5)
            support.settle()
            m.begin_window("w")
            time.sleep(0.4)
            r = m.end_window("w")
        p = support.h100_power(0.5)
        self.assertEqual(list(r.gpu_energy), [0])
        self.assertAlmostEqual(r.gpu_energy[0], p * r.time,
                               delta=support.counter_slack(p) + 0.03 * p * r.time)
        self.assertAlmostEqual(r.total_energy, r.gpu_energy[0], places=9)

    def test_a_subset_that_is_not_a_prefix(self):
        with joule.Monitor(devices="sim:4:h100", gpu_indices=[3, 1],
                           sync=None) as m:
            self.assertEqual(sorted(m.gpu_indices), [1, 3])
            m.begin_window("w")
            time.sleep(0.25)
            r = m.end_window("w")
            e = m.energy()
            self.assertEqual(sorted(e), ["gpu1", "gpu3"])
        self.assertEqual(sorted(r.gpu_energy), [1, 3])
        self.assertEqual(sorted(r.energy), ["gpu1", "gpu3"])
        self.assertAlmostEqual(r.total_energy, sum(r.gpu_energy.values()),
                               places=9)

    def test_window_log_has_only_the_selected_devices(self):
        d = tempfile.mkdtemp(prefix="joule-py-narrow-log-")
        for idx, name in (([0], "prefix.csv"), ([3, 1], "subset.csv"),
                          ([3, 1], "subset.jsonl")):
            path = os.path.join(d, name)
            with joule.Monitor(devices="sim:4:h100", gpu_indices=idx,
                               sync=None, log_file=path) as m:
                m.begin_window("w")
                time.sleep(0.15)
                r = m.end_window("w")
            if name.endswith(".csv"):
                rows = support.read_csv_log(path)
                self.assertEqual(len(rows), 1)
                want = ["start_time", "window_name", "elapsed_time"] + \
                    ["gpu%d_energy" % g for g in sorted(idx)] + \
                    ["gpu%d_energy_uncertainty_j" % g for g in sorted(idx)]
                self.assertEqual(list(rows[0]), want)
                for g in idx:
                    self.assertAlmostEqual(float(rows[0]["gpu%d_energy" % g]),
                                           r.gpu_energy[g], places=5)
            else:
                rows = support.read_jsonl_log(path)
                self.assertEqual(sorted(rows[0]["devices"]), ["gpu1", "gpu3"])
                self.assertAlmostEqual(rows[0]["total_energy_j"],
                                       r.total_energy, places=9)
        # appending keeps the header rule: other devices are refused
        with self.assertRaises(ValueError):
            joule.Monitor(devices="sim:4:h100", gpu_indices=[2, 1],
                          log_file=os.path.join(d, "subset.csv"))

    def test_env_spec_with_gpu_indices(self):
        # the issue: JOULE_DEVICES=sim:1:h100 + gpu_indices=[0] failed
        old = os.environ.get("JOULE_DEVICES")
        os.environ["JOULE_DEVICES"] = "sim:2:h100"
        try:
            with joule.Monitor(gpu_indices=[1], sync=None) as m:
                self.assertEqual(m.gpu_indices, [1])
                self.assertTrue(all(d.simulated for d in m.devices))
        finally:
            if old is None:
                del os.environ["JOULE_DEVICES"]
            else:
                os.environ["JOULE_DEVICES"] = old

    def test_absent_index_names_what_is_there(self):
        with self.assertRaises(joule.DeviceNotFoundError) as cm:
            joule.Monitor(devices="sim:2:h100", gpu_indices=[0, 2])
        msg = str(cm.exception)
        self.assertIn("gpu2 not found", msg)
        self.assertIn("gpu0, gpu1", msg)

    def test_optimizer_controls_only_the_selected(self):
        if not HAS_PLO:
            self.skipTest("libjoule has no power-limit optimizer")
        with joule.Monitor(devices="sim:4:h100", gpu_indices=[1, 3],
                           sync=None) as m:
            plo = joule.PowerLimitOptimizer(m, warmup_steps=0,
                                            profile_steps=1)
            self.assertEqual(plo._gpus, [1, 3])
            plo.close()


class MonitorLikeZeus(unittest.TestCase):
    """Item 2: cancel, reset_windows, soc_energy."""

    def setUp(self):
        self.m = joule.Monitor(devices="sim:2:h100", sync=None)
        self.addCleanup(self.m.close)

    def test_cancel_returns_an_empty_measurement(self):
        self.m.begin_window("w")
        r = self.m.end_window("w", cancel=True)
        self.assertIsInstance(r, joule.Measurement)
        self.assertEqual(r.time, 0.0)
        self.assertEqual(r.gpu_energy, {0: 0.0, 1: 0.0})
        self.assertEqual(r.total_energy, 0.0)
        self.assertIsNone(r.soc_energy)
        self.assertEqual(self.m.open_window_count(), 0)

    def test_reset_windows(self):
        for name in ("a", "b", "c"):
            self.m.begin_window(name)
        self.m.end_window("b")
        self.m.reset_windows()
        self.assertEqual(self.m.open_window_count(), 0)
        with self.assertRaises(joule.NotFoundError):
            self.m.end_window("a")
        self.m.begin_window("a")  # the names are free again
        self.assertIsNotNone(self.m.end_window("a"))


@unittest.skipUnless(HAS_SAMPLER, "libjoule has no sampler")
class PowerMonitorLikeZeus(unittest.TestCase):
    """Item 2: Zeus's PowerMonitor API on time.time() stamps."""

    @classmethod
    def setUpClass(cls):
        cls.pm = joule.power.PowerMonitor(devices="sim:2:h100", update_period=0.05)
        joule.sim.set_load(cls.pm.monitor, 0, 1.0)
        joule.sim.set_load(cls.pm.monitor, 1, 0.0)
        time.sleep(0.3)  # the load change is history now

    @classmethod
    def tearDownClass(cls):
        cls.pm.close()

    def test_attributes(self):
        self.assertEqual(self.pm.gpu_indices, [0, 1])
        self.assertAlmostEqual(self.pm.update_period, 0.05)
        self.assertIn(joule.power.PowerDomain.DEVICE_INSTANT, self.pm.measurement_domains)

    def test_get_energy_on_wall_clock_stamps(self):
        t0 = time.time()
        time.sleep(0.5)
        t1 = time.time()
        e = self.pm.get_energy(t0, t1)
        self.assertEqual(sorted(e), [0, 1])
        # power model: 700 W at load 1, 70 W idle (± the model's noise)
        self.assertAlmostEqual(e[0], 700.0 * (t1 - t0), delta=0.05 * 700 * (t1 - t0))
        self.assertAlmostEqual(e[1], 70.0 * (t1 - t0), delta=0.05 * 70 * (t1 - t0) + 1)

    def test_ranges_not_covered_are_errors(self):
        now = time.time()
        with self.assertRaises(ValueError) as cm:
            self.pm.get_energy(now - 1, now + 100)  # the future
        self.assertIn("covers", str(cm.exception))
        with self.assertRaises(joule.OutOfRangeError):
            self.pm.get_energy(now - 3600, now)  # before the first sample
        # the issue: Zeus-style stamps given to joule's monotonic energy()
        with self.assertRaises(ValueError) as cm:
            self.pm.energy(now - 0.2, now)
        self.assertIn("get_energy", str(cm.exception))

    def test_get_power_and_timeline(self):
        p = self.pm.get_power()
        self.assertEqual(sorted(p), [0, 1])
        self.assertAlmostEqual(p[0], 700.0, delta=35)
        tl = self.pm.get_power_timeline("device_instant", gpu_index=0,
                                        start_time=time.time() - 0.2)
        self.assertEqual(list(tl), [0])
        self.assertTrue(tl[0])
        now = time.time()
        self.assertTrue(all(now - 0.25 < t <= now + 0.01 for t, _ in tl[0]))
        allt = self.pm.get_all_power_timelines()
        self.assertIn("device_instant", allt)
        with self.assertRaises(ValueError):
            self.pm.get_power_timeline("gpu_voltage")

    def test_positional_gpu_indices_and_domains(self):
        with env_devices("sim:2:h100"), \
                joule.power.PowerMonitor([1], update_period=0.05,
                             power_domains=["device_instant"]) as pm:
            self.assertEqual(pm.gpu_indices, [1])
            self.assertEqual(pm.measurement_domains,
                             [joule.power.PowerDomain.DEVICE_INSTANT])
            with self.assertRaises(ValueError):
                pm.get_power(power_domain="device_average")
        with self.assertRaises(ValueError):
            joule.power.PowerMonitor(gpu_indices=[], devices="sim:1:h100")
        # Zeus allows periods over 1 s; the sampler then runs at 1 Hz
        with joule.power.TemperatureMonitor(update_period=2.0,
                                            devices="sim:1:h100") as tm:
            self.assertEqual(tm.update_period, 2.0)

    def test_temperature_monitor(self):
        with joule.power.TemperatureMonitor(gpu_indices=[0], update_period=0.05,
                                devices="sim:2:h100") as tm:
            self.assertEqual(tm.gpu_indices, [0])
            t = tm.get_temperature()
            self.assertEqual(list(t), [0])
            self.assertIsInstance(t[0], int)
            self.assertTrue(10 <= t[0] <= 110)
            tl = tm.get_temperature_timeline()
            self.assertTrue(tl[0])


ZEUS_WRITTEN = """{
    "measurements": [
        {
            "power_limit": 700,
            "energy": 7000.0,
            "time": 10.0
        },
        {
            "power_limit": 450,
            "energy": 5000.5,
            "time": 12.5
        }
    ]
}"""


def _measurements():
    return [joule.optimizer.PowerLimitMeasurement(700, 10.0, 7000.0),
            joule.optimizer.PowerLimitMeasurement(600, 10.5, 6000.0),
            joule.optimizer.PowerLimitMeasurement(500, 14.0, 6500.0)]


@unittest.skipUnless(HAS_PLO, "libjoule has no power-limit optimizer")
class OptimizerLikeZeus(unittest.TestCase):
    """Item 4: profile_path, custom selectors, states."""

    def setUp(self):
        self.m = joule.Monitor(devices="sim:2:h100", sync=None)
        self.addCleanup(self.m.close)
        self.dir = tempfile.mkdtemp(prefix="joule-py-plo-")

    def run_until_done(self, plo, limit=200):
        for _ in range(limit):
            if plo.done:
                return
            plo.on_step_begin()
            time.sleep(0.02)
            plo.on_step_end()
        self.fail("the optimizer did not finish")

    def test_profile_file_round_trip_with_zeus_format(self):
        path = os.path.join(self.dir, "profile.json")
        joule.optimizer.write_profile(path, _measurements())
        with open(path) as f:
            doc = json.load(f)
        self.assertEqual(doc["measurements"][0],
                         {"power_limit": 700, "energy": 7000.0, "time": 10.0})
        self.assertEqual(joule.optimizer.read_profile(path), _measurements())

    def test_reads_a_file_zeus_wrote(self):
        # written by Zeus 0.16's _PowerLimitMeasurementList(...).json(indent=4)
        path = os.path.join(self.dir, "zeus.json")
        with open(path, "w") as f:
            f.write(ZEUS_WRITTEN)
        ms = joule.optimizer.read_profile(path)
        self.assertEqual([tuple(m) for m in ms],
                         [(700, 10.0, 7000.0), (450, 12.5, 5000.5)])
        self.assertEqual(joule.ZeusCost(0.5).select(ms), 450)

    def test_zeus_reads_our_file(self):
        exe = os.environ.get("JOULE_ZEUS_PYTHON")
        if not exe:
            try:
                import zeus  # noqa: F401
                exe = sys.executable
            except ImportError:
                self.skipTest("Zeus is not installed here; set "
                              "JOULE_ZEUS_PYTHON to a python with zeus to "
                              "check that Zeus reads joule's profile files")
        path = os.path.join(self.dir, "ours.json")
        joule.optimizer.write_profile(path, _measurements())
        r = subprocess.run([exe, "-c", textwrap.dedent("""\
            import sys
            from zeus.optimizer.power_limit import (
                _PowerLimitMeasurementList as L)
            ms = L.parse_file(sys.argv[1]).measurements
            print([(m.power_limit, m.time, m.energy) for m in ms])
            """), path], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertEqual(r.stdout.strip().splitlines()[-1],
                         str([tuple(m) for m in _measurements()]))

    def test_existing_profile_is_applied_without_profiling(self):
        path = os.path.join(self.dir, "profile.json")
        joule.optimizer.write_profile(path, _measurements())
        plo = joule.GlobalPowerLimitOptimizer(
            self.m, optimum_selector=joule.Energy(), profile_path=path)
        self.assertIsInstance(plo.state, joule.optimizer.Done)
        self.assertEqual(plo.state.optimal_power_limit, 600_000)  # mW
        self.assertEqual(plo.state, "done")
        self.assertEqual(plo.optimal_power_limit, 600)
        from joule.device import power_limits_w
        self.assertEqual([power_limits_w(self.m, g)[0] for g in (0, 1)],
                         [600.0, 600.0])
        plo.on_step_begin()  # nothing to do
        plo.on_epoch_end()
        plo.close()
        self.assertEqual([power_limits_w(self.m, g)[0] for g in (0, 1)],
                         [700.0, 700.0])

    def test_profiling_writes_the_profile(self):
        path = os.path.join(self.dir, "new.json")
        plo = joule.GlobalPowerLimitOptimizer(
            self.m, wait_steps=0, warmup_steps=1, profile_steps=3,
            pl_step=250, profile_path=path, target_uncertainty=0)
        self.assertIsInstance(plo.state, joule.optimizer.Ready)
        self.assertEqual(plo.state.next_power_limit, 700_000)
        self.run_until_done(plo)
        ms = joule.optimizer.read_profile(path)
        self.assertEqual([m.power_limit for m in ms], [700, 450, 200])
        # Zeus's values are per profiling window of profile_steps steps
        per_step = plo.measurements
        for z, j in zip(ms, per_step):
            self.assertAlmostEqual(z.time, 3 * j.time, places=9)
            self.assertAlmostEqual(z.energy, 3 * j.energy, places=6)
        plo.close()

    def test_custom_selector_chooses(self):
        chosen = []

        class Lowest(joule.OptimumSelector):
            def select(self, measurements):
                chosen.append([m.power_limit for m in measurements])
                return min(m.power_limit for m in measurements)

        plo = joule.PowerLimitOptimizer(
            self.m, optimum_selector=Lowest(), warmup_steps=1,
            profile_steps=2, pl_step=250, target_uncertainty=0)
        self.run_until_done(plo)
        self.assertEqual(chosen, [[700, 450, 200]])
        self.assertEqual(plo.optimal_power_limit, 200)
        self.assertEqual(plo.state.optimal_power_limit, 200_000)
        from joule.device import power_limits_w
        self.assertEqual([power_limits_w(self.m, g)[0] for g in (0, 1)],
                         [200.0, 200.0])
        plo.close()
        self.assertEqual([power_limits_w(self.m, g)[0] for g in (0, 1)],
                         [700.0, 700.0])

    def test_bad_profile_names_file_and_position(self):
        path = os.path.join(self.dir, "bad.json")
        with open(path, "w") as f:
            f.write('{"measurements": [\n  {"power_limit": 700,, }\n]}\n')
        with self.assertRaises(ValueError) as cm:
            joule.optimizer.read_profile(path)
        self.assertIn(path + ":2:", str(cm.exception))
        with open(path, "w") as f:
            json.dump({"measurements": [{"power_limit": 700, "time": -1,
                                         "energy": 1}]}, f)
        with self.assertRaises(ValueError) as cm:
            joule.GlobalPowerLimitOptimizer(self.m, profile_path=path)
        self.assertIn("measurements[0].time", str(cm.exception))


# -- cross-rank decisions with two gloo processes -------------------------

RANK_SCRIPT = textwrap.dedent("""\
    import json, os, sys, time
    import torch
    import torch.distributed as dist
    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo", rank=rank, world_size=2)
    import joule
    monitor = joule.Monitor(devices="sim:1:h100", sync=None)
    joule.sim.set_load(monitor, 0, 1.0 if rank == 0 else 0.2)
    plo = joule.GlobalPowerLimitOptimizer(monitor, wait_steps=0,
                                          warmup_steps=1, profile_steps=3,
                                          pl_step=250)
    step_s = 0.04 if rank == 0 else 0.08   # rank 1 is the slow one
    for step in range(200):
        if plo.done:
            break
        plo.on_step_begin()
        time.sleep(step_s)
    dist.barrier()
    print("RESULT " + json.dumps({
        "rank": rank, "state": plo.state,
        "optimal": plo.optimal_power_limit, "applied": plo.power_limit,
        "measurements": [list(m) for m in plo.measurements]}))
    plo.close()
    dist.destroy_process_group()
    """)


def torch_python():
    try:
        import torch.distributed  # noqa: F401
        return sys.executable
    except ImportError:
        pass
    from .test_torch import other_torch_python
    return other_torch_python()


def run_two_gloo_ranks(test, script, prefix, **extra):
    """Runs script as ranks 0 and 1 of a gloo group on loopback (HOME and
    XDG_DATA_HOME a fresh folder; extra env, a None value removing the
    variable) and returns what each printed on its "RESULT <json>" line.
    Skips test when no Python has torch.distributed."""
    exe = torch_python()
    if exe is None:
        test.skipTest("PyTorch (torch.distributed) is not installed for "
                      "%s nor /usr/bin/python3: apt-get install "
                      "python3-torch" % sys.executable)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        path = os.path.join(d, "rank.py")
        with open(path, "w") as f:
            f.write(script)
        procs = []
        for rank in (0, 1):
            env = child_env(RANK=str(rank), WORLD_SIZE="2",
                            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                            HOME=d, XDG_DATA_HOME=d)
            for k, v in extra.items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v
            procs.append(subprocess.Popen(
                [exe, path], env=env, cwd=d, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True))
        outs = []
        for p in procs:
            try:
                out, err = p.communicate(timeout=240)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                test.fail("the ranks did not finish")
            test.assertEqual(p.returncode, 0, out + err)
            outs.append(json.loads([x for x in out.splitlines()
                                    if x.startswith("RESULT ")][0][7:]))
    return outs


@unittest.skipUnless(HAS_PLO, "libjoule has no power-limit optimizer")
class CrossRankDecision(unittest.TestCase):
    def test_two_gloo_ranks_apply_one_limit(self):
        outs = run_two_gloo_ranks(self, RANK_SCRIPT, "joule-py-ddp-")
        r0, r1 = outs
        self.assertEqual(r0["state"], "done")
        self.assertEqual(r1["state"], "done")
        # one decision: same measurements, same limit applied on both
        self.assertEqual(r0["measurements"], r1["measurements"])
        self.assertEqual(r0["optimal"], r1["optimal"])
        self.assertEqual(r0["applied"], r0["optimal"])
        self.assertEqual(r1["applied"], r1["optimal"])
        self.assertEqual([m[0] for m in r0["measurements"]], [700, 450, 200])
        for pl, t, e in r0["measurements"]:
            # time is the slow rank's (max), per step
            self.assertGreaterEqual(t, 0.08 * 0.95)
            # energy is both ranks' sum: more than the busy GPU alone
            # could use at that limit in that time
            self.assertGreater(e, min(pl, 700.0) * 0.04 * 0.9)


if __name__ == "__main__":
    unittest.main()
