"""Zeus-documented snippets, with only the import line changed.

Each snippet below is copied from Zeus 0.16's docs, docstrings or examples
(training work replaced by ``time.sleep``, step counts shortened, and an
``assert`` or two added at the end to check the result). The test changes
the one ``from zeus...`` line to joule's module and runs every snippet in
a child process twice: on simulated GPUs (``JOULE_DEVICES=sim:4:h100``,
as Zeus code names no devices) and on the NVML test double (the real
NVML backend over ``build/tests/fakes/nvml/libnvidia-ml.so.1``).
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

from joule import _lib

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)

#: Zeus's import line -> joule's. The snippets differ in this line only.
IMPORTS = {
    "from zeus.monitor import ZeusMonitor":
        "from joule.monitor import ZeusMonitor",
    "from zeus.monitor import PowerMonitor":
        "from joule.monitor.power import PowerMonitor",
    "from zeus.monitor.power import PowerMonitor, PowerDomain":
        "from joule.monitor.power import PowerMonitor, PowerDomain",
    "from zeus.monitor.temperature import TemperatureMonitor":
        "from joule.monitor.temperature import TemperatureMonitor",
    "from zeus.optimizer.power_limit import GlobalPowerLimitOptimizer":
        "from joule.optimizer import GlobalPowerLimitOptimizer",
    "from zeus.optimizer.power_limit import GlobalPowerLimitOptimizer, "
    "OptimumSelector":
        "from joule.optimizer import GlobalPowerLimitOptimizer, "
        "OptimumSelector",
    "from zeus.optimizer.power_limit import GlobalPowerLimitOptimizer, "
    "Ready, Done":
        "from joule.optimizer import GlobalPowerLimitOptimizer, Ready, Done",
    "from zeus.optimizer.power_limit import GlobalPowerLimitOptimizer, "
    "ZeusCost, MaxSlowdownConstraint":
        "from joule.optimizer import GlobalPowerLimitOptimizer, ZeusCost, "
        "MaxSlowdownConstraint",
    "from zeus.device import get_gpus":
        "from joule.device import get_gpus",
    "from zeus.utils.framework import all_reduce":
        "from joule.framework import all_reduce",
}

# Stand-ins the docs leave to the reader (not part of any snippet).
PRELUDE = textwrap.dedent("""\
    import time
    class _Cuda:
        @staticmethod
        def current_device():
            return 0
    class torch:  # the docs' torch.cuda.current_device()
        cuda = _Cuda
    train_loader = train_dataloader = [(i, i) for i in range(4)]
    def train_one_step(x, y):
        time.sleep(0.01)
    """)

SNIPPETS = {}

# docs/measure/index.md, "Measuring energy"
SNIPPETS["measure_loop"] = """\
from zeus.monitor import ZeusMonitor

if __name__ == "__main__":
    # All GPUs are measured simultaneously if `gpu_indices` is not given.
    monitor = ZeusMonitor(gpu_indices=[torch.cuda.current_device()])

    for epoch in range(2):
        monitor.begin_window("epoch")

        steps = []
        for x, y in train_loader:
            monitor.begin_window("step")
            train_one_step(x, y)
            result = monitor.end_window("step")
            steps.append(result)

        mes = monitor.end_window("epoch")
        print(f"Epoch {epoch} consumed {mes.time} s and {mes.total_energy} J.")

        avg_time = sum(map(lambda m: m.time, steps)) / len(steps)
        avg_energy = sum(map(lambda m: m.total_energy, steps)) / len(steps)
        print(f"One step took {avg_time} s and {avg_energy} J on average.")
    assert list(mes.gpu_energy) == [0] and mes.total_energy > 0
"""

# zeus/monitor/energy.py, ZeusMonitor's docstring
SNIPPETS["monitor_docstring"] = """\
from zeus.monitor import ZeusMonitor

monitor = ZeusMonitor(gpu_indices=[0, 1], approx_instant_energy=True)

def training():
    # A training loop.
    for x, y in train_loader:
        train_one_step(x, y)

monitor.begin_window("entire_training")
training()
measurement = monitor.end_window("entire_training")
print(measurement.time, measurement.gpu_energy)
assert sorted(measurement.gpu_energy) == [0, 1]
"""

# ZeusMonitor.end_window(cancel=True) and reset_windows
SNIPPETS["cancel_and_reset"] = """\
from zeus.monitor import ZeusMonitor

monitor = ZeusMonitor(gpu_indices=[0])
monitor.begin_window("eval")
cancelled = monitor.end_window("eval", cancel=True)
assert cancelled.time == 0.0 and cancelled.gpu_energy == {0: 0.0}
monitor.begin_window("a")
monitor.begin_window("b")
monitor.reset_windows()
monitor.begin_window("a")   # free again
assert monitor.end_window("a").time >= 0
"""

# docs/measure/index.md, "Power consumption over time"; PowerMonitor API
SNIPPETS["power_monitor"] = """\
from zeus.monitor.power import PowerMonitor, PowerDomain

monitor = PowerMonitor(gpu_indices=[0], update_period=0.05)
start = time.time()
time.sleep(0.5)
end = time.time()
energy = monitor.get_energy(start, end)
power = monitor.get_power()
timelines = monitor.get_all_power_timelines()
instant = monitor.get_power_timeline(PowerDomain.DEVICE_INSTANT, gpu_index=0,
                                     start_time=start, end_time=end)
print(energy, power, list(timelines))
assert energy[0] > 0 and power[0] > 0 and instant[0]
assert "device_instant" in timelines
monitor.stop()
"""

SNIPPETS["power_monitor_positional"] = """\
from zeus.monitor import PowerMonitor

monitor = PowerMonitor([0, 1], 0.1)
t0 = time.time()
time.sleep(0.3)
e = monitor.get_energy(t0, time.time())
assert sorted(e) == [0, 1]
"""

# zeus/monitor/temperature.py
SNIPPETS["temperature"] = """\
from zeus.monitor.temperature import TemperatureMonitor

temp_monitor = TemperatureMonitor(gpu_indices=[0], update_period=0.1)
time.sleep(0.3)
temps = temp_monitor.get_temperature()
timeline = temp_monitor.get_temperature_timeline()
assert isinstance(temps[0], int) and timeline[0]
temp_monitor.stop()
"""

# docs/optimize/power_limit_optimizer.md (steps shortened)
SNIPPETS["plo_loop"] = """\
from zeus.optimizer.power_limit import GlobalPowerLimitOptimizer, ZeusCost, MaxSlowdownConstraint

monitor = ZeusMonitor(gpu_indices=[0, 1])
plo = GlobalPowerLimitOptimizer(
    monitor,
    optimum_selector=MaxSlowdownConstraint(factor=1.1),
    wait_steps=1,
    warmup_steps=1,
    profile_steps=2,
    pl_step=250,
)
for epoch in range(30):
    plo.on_epoch_begin()
    for x, y in train_dataloader:
        plo.on_step_begin()
        train_one_step(x, y)
        plo.on_step_end()
    plo.on_epoch_end()
    if plo.state == "done":
        break
assert plo.state == "done"
"""

# GlobalPowerLimitOptimizer(profile_path=...): profile once, then load
SNIPPETS["plo_profile_path"] = """\
from zeus.optimizer.power_limit import GlobalPowerLimitOptimizer, Ready, Done

import os, tempfile
path = os.path.join(tempfile.mkdtemp(), "profile.json")
monitor = ZeusMonitor(gpu_indices=[0])
plo = GlobalPowerLimitOptimizer(monitor, wait_steps=0, warmup_steps=1,
                                profile_steps=3, pl_step=250,
                                profile_path=path)
assert isinstance(plo.state, Ready)
while not isinstance(plo.state, Done):
    plo.on_step_begin()
    train_one_step(0, 0)
import json
saved = json.load(open(path))["measurements"]
assert [m["power_limit"] for m in saved] == [700, 450, 200]
again = GlobalPowerLimitOptimizer(monitor, profile_path=path)
assert isinstance(again.state, Done)
assert again.state.optimal_power_limit == plo.state.optimal_power_limit
"""

# A custom OptimumSelector subclass, as Zeus's ABC invites
SNIPPETS["custom_selector"] = """\
from zeus.optimizer.power_limit import GlobalPowerLimitOptimizer, OptimumSelector

class SecondHighest(OptimumSelector):
    def select(self, measurements):
        return sorted(m.power_limit for m in measurements)[-2]

monitor = ZeusMonitor(gpu_indices=[0])
plo = GlobalPowerLimitOptimizer(monitor, optimum_selector=SecondHighest(),
                                wait_steps=0, warmup_steps=1,
                                profile_steps=3, pl_step=250)
while plo.state != "done":
    plo.on_step_begin()
    train_one_step(0, 0)
assert plo.state.optimal_power_limit == 450_000
"""

# docs/measure/index.md, "Generic device interfaces"
SNIPPETS["get_gpus"] = """\
from zeus.device import get_gpus

gpus = get_gpus()
names = [gpus.get_name(i) for i in range(len(gpus))]
lo, hi = gpus.get_power_management_limit_constraints(0)
gpus.set_power_management_limit(0, lo)
assert gpus.get_power_management_limit(0) == lo
gpus.reset_power_management_limit(0)
print(names, lo, hi)
assert hi > lo > 0 and len(names) >= 1
"""

# zeus/utils/framework.py
SNIPPETS["all_reduce"] = """\
from zeus.utils.framework import all_reduce

assert all_reduce([1.0, 2.0], operation="sum") == [1.0, 2.0]
assert all_reduce([3.0], operation="max") == [3.0]
"""

RUNNER = textwrap.dedent("""\
    import json, sys, traceback
    prelude, snippets = json.load(open(sys.argv[1]))
    results = {}
    for name, code in snippets.items():
        ns = {"__name__": "__main__"}
        try:
            exec(prelude, ns)
            if "ZeusMonitor(" in code and "import ZeusMonitor" not in code:
                exec("from joule.monitor import ZeusMonitor", ns)
            exec(compile(code, name, "exec"), ns)
            results[name] = None
        except BaseException:
            results[name] = traceback.format_exc()[-2000:]
        finally:
            for v in list(ns.values()):   # close monitors before the next
                close = getattr(v, "close", None)
                if callable(close) and type(v).__module__.startswith("joule"):
                    try:
                        close()
                    except Exception:
                        pass
    print("RESULTS " + json.dumps(results))
    """)


def translate(code):
    """The snippet with its one zeus import line changed to joule's."""
    lines = code.split("\n")
    changed = 0
    for i, line in enumerate(lines):
        if line.strip() in IMPORTS:
            lines[i] = line.replace(line.strip(), IMPORTS[line.strip()])
            changed += 1
    assert changed == 1, "snippet must have one zeus import: %r" % code[:60]
    return "\n".join(lines)


def fake_nvml():
    path = os.environ.get("JOULE_TEST_FAKE_NVML")
    if path:
        return path
    if os.sep not in _lib.path:
        return None
    build = os.path.dirname(os.path.dirname(os.path.realpath(_lib.path)))
    return os.path.join(build, "tests", "fakes", "nvml", "libnvidia-ml.so.1")


class ZeusSnippets(unittest.TestCase):
    def run_all(self, extra_env):
        with tempfile.TemporaryDirectory(prefix="joule-py-snip-") as d:
            data = os.path.join(d, "snippets.json")
            with open(data, "w") as f:
                json.dump([PRELUDE, {k: translate(v)
                                     for k, v in SNIPPETS.items()}], f)
            runner = os.path.join(d, "runner.py")
            with open(runner, "w") as f:
                f.write(RUNNER)
            env = dict(os.environ)
            for k in ("JOULE_DEVICES", "JOULE_JOB", "JOULE_DB",
                      "CUDA_VISIBLE_DEVICES", "JOULE_SIM_LOAD"):
                env.pop(k, None)
            env.update(JOULE_LIBRARY=os.path.abspath(_lib.path)
                       if os.sep in _lib.path else _lib.path,
                       HOME=d, XDG_DATA_HOME=d,
                       PYTHONPATH=os.pathsep.join(
                           [PYDIR] + [p for p in [env.get("PYTHONPATH")]
                                      if p]))
            env.update(extra_env(d))
            r = subprocess.run([sys.executable, runner, data], env=env,
                               cwd=d, capture_output=True, text=True,
                               timeout=400)
        line = [x for x in r.stdout.splitlines() if x.startswith("RESULTS ")]
        self.assertEqual(len(line), 1, r.stdout[-3000:] + r.stderr[-3000:])
        results = json.loads(line[0][len("RESULTS "):])
        self.assertEqual(sorted(results), sorted(SNIPPETS))
        for name, err in sorted(results.items()):
            with self.subTest(snippet=name):
                self.assertIsNone(err, err)
        return results

    def test_translation_changes_one_line(self):
        for name, code in SNIPPETS.items():
            a, b = code.split("\n"), translate(code).split("\n")
            self.assertEqual(len(a), len(b))
            self.assertEqual(sum(x != y for x, y in zip(a, b)), 1, name)

    def test_on_simulated_gpus(self):
        self.run_all(lambda d: {"JOULE_DEVICES": "sim:4:h100"})

    def test_on_the_nvml_test_double(self):
        nvml = fake_nvml()
        if not nvml or not os.path.exists(nvml):
            self.skipTest("no NVML test double (build target joule_test_fakes)"
                          " at %s" % nvml)

        def env(d):
            config = os.path.join(d, "nvml.json")
            with open(config, "w") as f:
                json.dump({"gpus": [{"model": "h100", "load": 0.6}] * 4,
                           "privileged": True,
                           "state": os.path.join(d, "state.json")}, f)
            return {"JOULE_NVML_LIBRARY": nvml,
                    "JOULE_FAKE_NVML_CONFIG": config,
                    "JOULE_FAKE_STATE": os.path.join(d, "state.json")}
        self.run_all(env)


if __name__ == "__main__":
    unittest.main()
