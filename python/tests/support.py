"""Helpers shared by the Python tests (no test cases here)."""

import os
import shutil
import tempfile
import time

# docs/sim.md: H100 idle 70 W, TDP 700 W; energy counter updates every
# 100 ms in whole millijoules.
H100_IDLE_W = 70.0
H100_TDP_W = 700.0
COUNTER_PERIOD_S = 0.1


def h100_power(load):
    return H100_IDLE_W + load * (H100_TDP_W - H100_IDLE_W)


def counter_slack(power_w):
    """Largest error of a counter-difference over a window: one update's
    energy at either edge (the counter shows the last 100 ms boundary),
    plus the millijoule truncation."""
    return power_w * COUNTER_PERIOD_S + 0.002


def settle():
    """Lets a freshly set sim load cover a whole counter period before a
    window begins, so the counter never mixes in the previous load."""
    time.sleep(COUNTER_PERIOD_S + 0.01)


class FakeRapl:
    """A fake powercap tree (like tests/support/test_support.c builds):
    package-0 with a dram subzone. Energies are written in microjoules."""

    RANGE_UJ = 262143328850

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="joule-py-rapl-")
        self.zone("intel-rapl:0", "package-0", 1_000_000)
        self.zone("intel-rapl:0:0", "dram", 500_000)

    def _write(self, zone_id, name, value):
        d = os.path.join(self.root, "class", "powercap", zone_id)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, "." + name + ".tmp")
        with open(tmp, "w") as f:
            f.write("%s\n" % value)
        os.replace(tmp, os.path.join(d, name))  # readers never see half

    def zone(self, zone_id, name, energy_uj):
        self._write(zone_id, "name", name)
        self._write(zone_id, "max_energy_range_uj", self.RANGE_UJ)
        self.set(zone_id, energy_uj)

    def set(self, zone_id, energy_uj):
        self._write(zone_id, "energy_uj", int(energy_uj))

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def os_threads():
    return len(os.listdir("/proc/self/task"))


def read_csv_log(path):
    import csv
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_jsonl_log(path):
    import json
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
