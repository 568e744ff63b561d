"""The C implementation (``joule analyze --carbon/--price/--pue``) and the
Python one (joule.hourly) give the same numbers on the same files: the
fixtures of tests/fixtures/hourly, shared with tests/test_hourly.c."""

import json
import os
import subprocess
import unittest

from joule import hourly

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "tests",
                        "fixtures", "hourly")
CLI = os.environ.get("JOULE_TEST_CLI")


def fixture(name):
    return os.path.join(FIXTURES, name)


def read_trace(path):
    """start, duration, {label: [(t, watts)]} of a joule trace's power."""
    start = duration = None
    series = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#"):
                for kv in line[1:].split():
                    k, _, v = kv.partition("=")
                    if k == "start_unix_s":
                        start = float(v)
                    elif k == "duration_s":
                        duration = float(v)
                continue
            if not line or line.startswith("time_s"):
                continue
            t, label, domain, value = line.split(",")
            if domain == "power_w":
                series.setdefault(label, []).append((float(t), float(value)))
    return start, duration, series


def cumulative(steps, end, x):
    """Energy of a power step function from its first step to x."""
    e = 0.0
    for i, (t, w) in enumerate(steps):
        hi = min(steps[i + 1][0] if i + 1 < len(steps) else end, end, x)
        if hi > t:
            e += w * (hi - t)
    return e


def python_by_hour(trace):
    """{hour: {label: J}} through hourly.split_by_hour, with cumulative
    readings at the start, at each hour boundary and at the end."""
    start, duration, series = read_trace(trace)
    times = [start]
    b = hourly.hour_of(start).timestamp() + hourly.HOUR_S
    while b < start + duration:
        times.append(b)
        b += hourly.HOUR_S
    times.append(start + duration)
    readings = [(t, {k: cumulative(s, duration, t - start)
                     for k, s in series.items()}) for t in times]
    return hourly.split_by_hour(start, start + duration, readings)


@unittest.skipUnless(CLI and os.access(CLI, os.X_OK),
                     "JOULE_TEST_CLI (the built joule) is not set")
class CAndPythonAgree(unittest.TestCase):
    def c_analyze(self, carbon, price, pue):
        out = subprocess.run([CLI, "analyze", fixture("trace.csv"), "--json",
                              "--carbon", carbon, "--price", price,
                              "--pue", str(pue)],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout)["carbon_price"]

    def check(self, carbon_file, carbon_series, pue):
        price = hourly.read_price_csv(fixture("price.csv"))
        by_hour = python_by_hour(fixture("trace.csv"))
        c = self.c_analyze(carbon_file, fixture("price.csv"), pue)
        for series, key, total_key in ((carbon_series, "carbon", "emissions_g"),
                                       (price, "price", "cost")):
            totals, missing = hourly.apply_hourly(by_hour, series, pue=pue)
            got = c[key]
            for label, value in totals.items():
                self.assertAlmostEqual(got["by_device"][label], value,
                                       delta=1e-9 * max(1.0, abs(value)))
            self.assertAlmostEqual(got[total_key], sum(totals.values()),
                                   delta=1e-9 * max(1.0, sum(totals.values())))
            self.assertEqual(got["missing_hours"],
                             [h.strftime("%Y-%m-%dT%H:%M:%SZ") for h in missing])
        # the same hours, the same energy in each
        self.assertEqual([h["hour_utc"] for h in c["hours"]],
                         [h.strftime("%Y-%m-%dT%H:%M:%SZ") for h in sorted(by_hour)])
        for h, row in zip(sorted(by_hour), c["hours"]):
            for label, j in by_hour[h].items():
                self.assertAlmostEqual(row["energy_j_by_device"][label], j, delta=1e-6)
            v = carbon_series.get(h)
            if v is None:
                self.assertIsNone(row["carbon_g_per_kwh"])
            else:
                self.assertAlmostEqual(row["carbon_g_per_kwh"], v, delta=1e-12 * v)

    def test_electricity_maps_csv(self):
        f = fixture("electricity_maps.csv")
        self.check(f, hourly.read_electricity_maps_csv(f), 1.0)

    def test_watttime_json_with_pue(self):
        f = fixture("watttime.json")
        self.check(f, hourly.read_watttime_json(f), 1.25)

    def test_bad_file_both_name_line_and_column(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.csv")
            with open(path, "w") as f:
                f.write("Datetime (UTC),Carbon Intensity gCO2eq/kWh (direct)\n"
                        "2025-12-04 16:00:00,300\n2025-12-04 17:00:00,lots\n")
            with self.assertRaises(hourly.HourlyFileError) as e:
                hourly.read_electricity_maps_csv(path)
            self.assertIn("%s:3:2:" % path, str(e.exception))
            r = subprocess.run([CLI, "analyze", fixture("trace.csv"),
                                "--carbon", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("%s:3:2:" % path, r.stderr)


if __name__ == "__main__":
    unittest.main()
