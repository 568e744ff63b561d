"""Issue 14, items 3, 5, 6, 7: carbon and price files, joule.device and
joule.framework, the python -m entry points, and Prometheus pushes to a
real Pushgateway."""

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import joule
from joule import _lib

from . import support

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
UTC = dt.timezone.utc


def child_env(**extra):
    env = dict(os.environ)
    for k in ("JOULE_DEVICES", "JOULE_SIM_LOAD", "CUDA_VISIBLE_DEVICES"):
        env.pop(k, None)
    env.update(JOULE_LIBRARY=os.path.abspath(_lib.path)
               if os.sep in _lib.path else _lib.path,
               PYTHONPATH=os.pathsep.join(
                   [PYDIR] + [p for p in [env.get("PYTHONPATH")] if p]))
    env.update(extra)
    return env


def hour(y, mo, d, h):
    return dt.datetime(y, mo, d, h, tzinfo=UTC)


class CarbonAndPriceFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="joule-py-carbon-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_electricity_maps_csv_by_column_name(self):
        # columns in another order and case than the export; LCA ignored
        path = self.write("de.csv",
                          "Zone Id,carbon intensity gCO₂eq/kWh (LCA),"
                          "DATETIME (UTC),Carbon Intensity gCO₂eq/kWh (direct)\n"
                          "DE,500,2024-01-01 00:00:00,400.5\n"
                          "DE,510,2024-01-01T01:00:00.000Z,380\n"
                          "DE,520,2024-01-01 03:00:00,\n")
        s = joule.hourly.read_electricity_maps_csv(path)
        self.assertEqual(s.get(hour(2024, 1, 1, 0)), 400.5)
        self.assertEqual(s.get(hour(2024, 1, 1, 1).timestamp() + 1800), 380.0)
        self.assertIsNone(s.get(hour(2024, 1, 1, 2)))   # absent
        self.assertIsNone(s.get(hour(2024, 1, 1, 3)))   # empty cell
        lca = joule.hourly.read_electricity_maps_csv(path, kind="lca")
        self.assertEqual(lca.get(hour(2024, 1, 1, 0)), 500.0)

    def test_watttime_json_converts_lb_per_mwh(self):
        pts = [{"point_time": "2024-01-01T00:%02d:00+00:00" % m, "value": v}
               for m, v in ((0, 1000.0), (5, 1200.0))]
        path = self.write("wt.json", json.dumps(
            {"data": pts, "meta": {"units": "lbs_co2_per_mwh"}}))
        s = joule.hourly.read_watttime_json(path)
        self.assertAlmostEqual(s.get(hour(2024, 1, 1, 0)),
                               1100.0 * 0.45359237, places=9)

    def test_bad_files_name_file_line_and_column(self):
        path = self.write("bad.csv", "Datetime (UTC),Carbon Intensity "
                          "gCO₂eq/kWh (direct)\n2024-01-01 00:00:00,400\n"
                          "2024-01-01 01:00:00,lots\n")
        with self.assertRaises(ValueError) as cm:
            joule.hourly.read_electricity_maps_csv(path)
        self.assertIn(path + ":3:2", str(cm.exception))
        path = self.write("bad2.csv", "when,intensity\n2024,1\n")
        with self.assertRaises(ValueError) as cm:
            joule.hourly.read_electricity_maps_csv(path)
        self.assertIn(path + ":1", str(cm.exception))
        path = self.write("bad.json", '{"data": [\n {"value": 3,}\n]}')
        with self.assertRaises(ValueError) as cm:
            joule.hourly.read_watttime_json(path)
        self.assertIn(path + ":2:", str(cm.exception))

    def test_price_csv_per_mwh(self):
        path = self.write("p.csv", "timestamp,Price (EUR/MWh)\n"
                          "2024-01-01T00:00:00Z,100\n")
        s = joule.hourly.read_price_csv(path)
        self.assertAlmostEqual(s.get(hour(2024, 1, 1, 0)), 0.1)

    def test_python_m_joule_hourly_prints_the_series(self):
        path = self.write("wt.json", json.dumps(
            {"data": [{"point_time": "2024-01-01T05:00:00Z", "value": 1000}],
             "meta": {"units": "lbs_co2_per_mwh"}}))
        r = subprocess.run([sys.executable, "-m", "joule.hourly", "watttime",
                            path], env=child_env(), capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(),
                         ["hour_utc,value", "2024-01-01T05:00:00Z,453.59237"])
        r = subprocess.run([sys.executable, "-m", "joule.hourly", "price",
                            path], env=child_env(), capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path, r.stderr)

    def test_split_at_hour_boundaries_with_pue_and_missing_hours(self):
        h0 = hour(2024, 1, 1, 0).timestamp()
        # 1800 s before the 01:00 boundary, 900 s after; 100 W steady
        cum = [(h0 + 1800, {"gpu0": 0.0}), (h0 + 3600, {"gpu0": 180000.0}),
               (h0 + 4500, {"gpu0": 270000.0})]
        by_hour = joule.hourly.split_by_hour(cum[0][0], cum[-1][0], cum)
        self.assertEqual(by_hour, {hour(2024, 1, 1, 0): {"gpu0": 180000.0},
                                   hour(2024, 1, 1, 1): {"gpu0": 90000.0}})
        series = joule.hourly.HourlySeries({hour(2024, 1, 1, 0): 400.0})
        totals, missing = joule.hourly.apply_hourly(by_hour, series, pue=1.5)
        # 0.05 kWh x 1.5 x 400 g/kWh = 30 g; hour 01 has no intensity
        self.assertAlmostEqual(totals["gpu0"], 30.0, places=9)
        self.assertEqual(missing, [hour(2024, 1, 1, 1)])
        with self.assertRaises(ValueError):
            joule.hourly.apply_hourly(by_hour, series, pue=0.5)

    def test_carbon_and_cost_monitors_on_sim(self):
        from joule.monitor.carbon import CarbonEmissionMonitor
        from joule.monitor.price import EnergyCostMonitor
        now = time.time()
        this_hour = joule.hourly.hour_of(now)
        path = self.write("cur.csv", "Datetime (UTC),Carbon Intensity "
                          "gCO₂eq/kWh (direct)\n%s,300\n"
                          % this_hour.strftime("%Y-%m-%d %H:%M:%S"))
        with joule.Monitor(devices="sim:2:h100", gpu_indices=[0],
                           sync=None) as m:
            cm = CarbonEmissionMonitor(path, monitor=m, pue=1.2,
                                       period_s=0.1)
            cm.begin_window("w")
            time.sleep(0.35)
            r = cm.end_window("w")
            cm.close()
            ec = EnergyCostMonitor(0.25, monitor=m)
            ec.begin_window("w")
            time.sleep(0.2)
            c = ec.end_window("w")
            ec.close()
        e = r.gpu_energy[0]
        if joule.hourly.hour_of(time.time()) == this_hour:
            self.assertEqual(r.missing_hours, [])
            self.assertAlmostEqual(r.gpu_carbon_emission[0],
                                   e * 1.2 / 3.6e6 * 300, places=12)
        self.assertAlmostEqual(sum(v["gpu0"] for v in r.energy_by_hour.values()),
                               e, places=6)
        self.assertAlmostEqual(c.gpu_energy_cost[0],
                               c.gpu_energy[0] / 3.6e6 * 0.25, places=12)

    def test_carbon_file_missing_the_hour_is_flagged(self):
        from joule.monitor.carbon import CarbonEmissionMonitor
        path = self.write("old.csv", "Datetime (UTC),Carbon Intensity "
                          "gCO₂eq/kWh (direct)\n2001-01-01 00:00:00,300\n")
        with CarbonEmissionMonitor(path, devices="sim:1:h100",
                                   sync_execution_with=None) as cm:
            cm.begin_window("w")
            time.sleep(0.15)
            r = cm.end_window("w")
        self.assertTrue(r.missing_hours)
        self.assertFalse(r.complete)
        self.assertEqual(r.gpu_carbon_emission, {0: 0.0})


class DeviceAndFramework(unittest.TestCase):
    def test_get_gpus_controls_and_restores(self):
        from joule.device import GPUs
        with GPUs("sim:2:h100") as g:
            self.assertEqual(len(g), 2)
            self.assertEqual(g.get_power_management_limit_constraints(1),
                             (200000, 700000))
            g.set_power_management_limit(1, 350000)
            self.assertEqual(g.get_power_management_limit(1), 350000)
            g.set_gpu_locked_clocks(0, 900, 1200)
            sm, _ = g.get_clocks(0)
            self.assertLessEqual(sm, 1200)
            g.reset_gpu_locked_clocks(0)
            g.set_persistence_mode(0, True)
            self.assertTrue(g.get_persistence_mode(0))
            clocks = g.get_supported_graphics_clocks(0)
            self.assertEqual(clocks, sorted(clocks, reverse=True))
            self.assertEqual(g.gpus[1].get_power_management_limit(), 350000)
            with self.assertRaises(ValueError):
                g.get_name(5)
            mon = g.monitor
        # closing put the limit back (joule_restore)
        self.assertTrue(mon.closed)
        with GPUs("sim:2:h100") as g:
            self.assertEqual(g.get_power_management_limit(1), 700000)

    def test_all_reduce_and_sync_without_a_process_group(self):
        from joule.framework import all_reduce, is_distributed, sync_execution
        self.assertEqual(all_reduce([1.0, 2.0], "sum"), [1.0, 2.0])
        with self.assertRaises(ValueError):
            all_reduce([1.0], "mean")
        self.assertFalse(is_distributed())
        with self.assertRaises(ValueError):
            sync_execution([0], sync_with="tensorflow")
        try:
            import torch  # noqa: F401
        except ImportError:
            with self.assertRaises(RuntimeError):
                sync_execution([0], sync_with="torch")


class Profile(unittest.TestCase):
    """joule.profile (zeus.profile) on a simulated H100 at full load."""

    def setUp(self):
        self.m = joule.Monitor(devices="sim:1:h100", sync=None)
        self.addCleanup(self.m.close)
        joule.sim.set_load(self.m, 0, 1.0)

    def test_measure(self):
        from joule.profile import measure
        r = measure(lambda: time.sleep(0.01), self.m,
                    measurement_duration=0.6, cooldown_duration=0.05,
                    num_warmup_iterations=2, num_calibration_iterations=5)
        self.assertGreaterEqual(r.iterations, 1)
        # 700 W for the time measured, per iteration
        self.assertAlmostEqual(r.total_energy, 700.0 * r.total_time,
                               delta=support.counter_slack(700.0) + 0.05 * 700 * r.total_time)
        self.assertAlmostEqual(r.energy_per_iter * r.iterations,
                               r.total_energy, places=9)
        self.assertTrue(10 <= r.temperature_before <= 110)

    def test_sweep(self):
        from joule.profile import profile_measurement_duration
        rep = profile_measurement_duration(
            lambda: time.sleep(0.01), self.m, [0.2, 0.4], cooldown_duration=0,
            num_trials=2, num_warmup_trials=0, num_warmup_iterations=1,
            iteration_duration=0.01, trial_stddev_threshold=1e9)
        self.assertEqual(rep.sweep_param, ("measurement_duration", [0.2, 0.4]))
        self.assertEqual(rep.fixed_param, ("cooldown_duration", 0))
        self.assertEqual(len(rep.entries), 2)
        self.assertTrue(all(len(e.trials) == 2 and e.is_valid
                            for e in rep.entries))


class EntryPoints(unittest.TestCase):
    def run_module(self, args, sig_after=None, timeout=60):
        """Runs python -m ARGS; with sig_after, sends SIGINT that long after
        the program said (on stderr) that it is measuring, so a slow start
        on a busy machine never meets the signal before its handler."""
        p = subprocess.Popen([sys.executable, "-m"] + args, env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        first = ""
        if sig_after is not None:
            first = p.stderr.readline()  # "Measuring ..." / "Sampling ..."
            if "Ctrl-C" not in first:
                p.kill()
                out, err = p.communicate(timeout=timeout)
                self.fail("no ready line: %r\n%s%s" % (first, out, err))
            time.sleep(sig_after)
            p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, first + err

    def test_monitor_energy_prints_totals_on_ctrl_c(self):
        rc, out, err = self.run_module(
            ["joule.monitor", "energy", "--devices", "sim:2:h100",
             "--gpu-indices", "1", "--json"], sig_after=1.0)
        self.assertEqual(rc, 0, err)
        res = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(list(res["gpu_energy_j"]), ["1"])
        # idle H100: 70 W for the time measured
        self.assertAlmostEqual(res["gpu_energy_j"]["1"], 70.0 * res["time_s"],
                               delta=support.counter_slack(70.0) + 0.05 * 70 * res["time_s"])

    def test_monitor_power_prints_energy_on_ctrl_c(self):
        rc, out, err = self.run_module(
            ["joule.monitor", "power", "--devices", "sim:1:h100",
             "--update-period", "0.1"], sig_after=1.0)
        self.assertEqual(rc, 0, err)
        self.assertIn("Total time (s):", out)
        self.assertIn("Total energy (J): {'GPU0':", out)

    def test_show_env(self):
        rc, out, err = self.run_module(["joule.show_env", "--devices",
                                        "sim:1:a100", "--json"])
        self.assertEqual(rc, 0, err)
        env = json.loads(out)
        self.assertEqual(env["libjoule"], joule.library_version)
        self.assertEqual(env["devices"][0]["power_limit_w"]["max"], 400.0)
        rc, out, err = self.run_module(["joule.show_env", "--devices",
                                        "sim:1:a100"])
        self.assertIn("gpu0: NVIDIA A100", out)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parse_metrics(text):
    """{(name, frozenset(labels)): value} from the exposition format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels = {}
        for part in rest.rstrip("}").split('",'):
            if "=" in part:
                k, v = part.split("=", 1)
                labels[k] = v.strip('"')
        out[(name, frozenset(labels.items()))] = float(value)
    return out


class PrometheusPush(unittest.TestCase):
    """Item 7, against Debian's prometheus-pushgateway on loopback."""

    @classmethod
    def setUpClass(cls):
        exe = shutil.which("prometheus-pushgateway") or \
            shutil.which("pushgateway")
        if exe is None:
            raise unittest.SkipTest(
                "prometheus-pushgateway is not installed (apt-get install "
                "prometheus-pushgateway)")
        cls.port = _free_port()
        cls.url = "127.0.0.1:%d" % cls.port
        cls.proc = subprocess.Popen(
            [exe, "--web.listen-address=127.0.0.1:%d" % cls.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if cls.proc.poll() is not None:
                err = cls.proc.stderr.read().decode(errors="replace")[-500:]
                cls.proc.stderr.close()
                raise unittest.SkipTest("prometheus-pushgateway could not "
                                        "start: %s" % err)
            try:
                with urllib.request.urlopen("http://%s/-/ready" % cls.url,
                                            timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        cls.proc.kill()
        cls.proc.wait()
        cls.proc.stderr.close()
        raise unittest.SkipTest("prometheus-pushgateway did not become ready "
                                "on %s within 20 s" % cls.url)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            cls.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
        cls.proc.stderr.close()

    def scrape(self):
        with urllib.request.urlopen("http://%s/metrics" % self.url,
                                    timeout=5) as r:
            return _parse_metrics(r.read().decode())

    def key(self, name, job, window, index, **extra):
        labels = {"job": job, "window": window, "index": str(index),
                  "instance": ""}
        labels.update(extra)
        return (name, frozenset(labels.items()))

    def test_energy_histogram(self):
        from joule.metric import EnergyHistogram
        with joule.Monitor(devices="sim:2:h100", sync=None) as m:
            h = EnergyHistogram([], [0, 1], self.url, "joule_hist",
                                gpu_bucket_range=[10.0, 50.0, 1000.0],
                                monitor=m)
            h.begin_window("step")
            time.sleep(0.3)
            r = h.end_window("step")
        got = self.scrape()
        name = "energy_monitor_gpu_energy_joules"
        for g in (0, 1):
            s = got[self.key(name + "_sum", "joule_hist", "step", g)]
            self.assertAlmostEqual(s, r.gpu_energy[g], places=6)
            self.assertEqual(got[self.key(name + "_count", "joule_hist",
                                          "step", g)], 1)
            self.assertEqual(got[self.key(name + "_bucket", "joule_hist",
                                          "step", g, le="50")], 1)
            self.assertEqual(got[self.key(name + "_bucket", "joule_hist",
                                          "step", g, le="10")], 0)

    def test_cumulative_counter_and_power_gauge(self):
        from joule.metric import EnergyCumulativeCounter, PowerGauge
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            joule.sim.set_load(m, 0, 1.0)
            c = EnergyCumulativeCounter([], [0], 0.2, self.url, "joule_ctr",
                                        monitor=m)
            m.begin_window("truth")
            c.begin_window("train")
            time.sleep(0.9)
            c.end_window("train")
            truth = m.end_window("truth")
            g = PowerGauge([0], 0.1, self.url, "joule_pow", monitor=m)
            g.begin_window("train")
            time.sleep(0.3)
            g.end_window("train")
        got = self.scrape()
        total = got[self.key("energy_monitor_gpu_energy_joules_total",
                             "joule_ctr", "train", 0)]
        # the counter's periods tile the window: its sum is the energy
        self.assertAlmostEqual(total, truth.gpu_energy[0],
                               delta=support.counter_slack(700) * 2)
        w = got[self.key("power_monitor_gpu_power_watts", "joule_pow",
                         "train", 0)]
        self.assertAlmostEqual(w, 700.0, delta=35)


if __name__ == "__main__":
    unittest.main()
