"""Zeus's names carry over: the selector classes (Energy, Time, ZeusCost,
MaxSlowdownConstraint) and Zeus's own selector objects, the optimizer's
optimum_selector= / wait_steps= and Zeus callback methods, the monitor's
approx_instant_energy=, and Zeus's documented training loop run verbatim
with only the import line changed (on simulated GPUs behind the NVML test
double)."""

import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import warnings
from ctypes import c_double

import joule
from joule import _lib

WORK_PER_STEP = 0.02  # full-speed seconds of simulated work per step


# Zeus's own selectors (zeus/optimizer/power_limit.py), written out
# independently to check joule's choices against.
def zeus_energy(ms):
    return min(ms, key=lambda m: m[2])[0]


def zeus_time(ms):
    return min(ms, key=lambda m: m[1])[0]


def zeus_cost_choice(ms, eta, world_size):
    max_power = max(m[0] for m in ms) * world_size
    return min(ms, key=lambda m: eta * m[2] + (1 - eta) * max_power * m[1])[0]


def joule_select(spec, ms, n_gpus):
    n = len(ms)
    pl, t, e = ((c_double * n)(*[m[i] for m in ms]) for i in range(3))
    return ms[_lib.check(_lib.lib.joule_select(spec.encode(), pl, t, e, n,
                                               0.0, n_gpus))][0]


def random_profile(rng, n=8):
    """Distinct limits, highest first; time rises and energy varies as on
    real GPUs, with noise so that choices differ between selectors."""
    out = []
    for i in range(n):
        pl = 700 - 50 * i
        t = 1.0 + 0.02 * i * i + rng.uniform(0, 0.05)
        e = 500.0 - 20 * i + 4 * i * i + rng.uniform(0, 15)
        out.append((pl, t, e))
    return out


class Selectors(unittest.TestCase):
    def test_names_specs_and_validation(self):
        self.assertEqual(joule.Energy().spec(), "energy")
        self.assertEqual(joule.Time().spec(), "time")
        self.assertEqual(joule.ZeusCost(0.3).spec(), "cost:0.3")
        self.assertEqual(joule.ZeusCost(1, world_size=4).spec(4), "cost:1.0")
        self.assertEqual(joule.MaxSlowdownConstraint(1.2).spec(),
                         "slowdown:1.2")
        for sel in (joule.Energy(), joule.Time(), joule.ZeusCost(0.5),
                    joule.MaxSlowdownConstraint(1.1)):
            self.assertIsInstance(sel, joule.OptimumSelector)
        self.assertEqual(joule.ZeusCost(0.5, 2), joule.ZeusCost(0.5, 2))
        self.assertNotEqual(joule.ZeusCost(0.5, 2), joule.ZeusCost(0.5, 1))
        self.assertEqual(repr(joule.ZeusCost(0.5, 2)),
                         "ZeusCost(eta_knob=0.5, world_size=2)")
        # Zeus's checks: 0 <= eta <= 1, world_size >= 1, factor >= 1.
        for bad in (-0.1, 1.5):
            with self.assertRaises(ValueError):
                joule.ZeusCost(bad)
        with self.assertRaises(ValueError):
            joule.ZeusCost(0.5, world_size=0)
        with self.assertRaises(ValueError):
            joule.MaxSlowdownConstraint(0.9)
        with self.assertRaises(TypeError):
            joule.ZeusCost("0.5")
        with self.assertRaises(TypeError):
            joule.MaxSlowdownConstraint(None)

    @unittest.skipUnless(_lib.has("joule_select"), "no joule_select")
    def test_select_matches_zeus(self):
        rng = random.Random(7)
        for _ in range(200):
            ms = random_profile(rng)
            self.assertEqual(joule.Energy().select(ms), zeus_energy(ms))
            self.assertEqual(joule.Time().select(ms), zeus_time(ms))
            for eta in (0.0, 0.2, 0.5, 0.9, 1.0):
                for w in (1, 4):
                    self.assertEqual(joule.ZeusCost(eta, w).select(ms),
                                     zeus_cost_choice(ms, eta, w))
            f = 1.1
            t_max = ms[0][1]
            feasible = [m for m in ms if m[1] <= f * t_max]
            self.assertEqual(joule.MaxSlowdownConstraint(f).select(ms),
                             min(feasible, key=lambda m: m[2])[0])

    @unittest.skipUnless(_lib.has("joule_select"), "no joule_select")
    def test_select_takes_zeus_measurement_objects(self):
        class PowerLimitMeasurement:  # Zeus's: power_limit, energy, time
            def __init__(self, power_limit, energy, time):
                self.power_limit, self.energy, self.time = \
                    power_limit, energy, time
        ms = [PowerLimitMeasurement(300, 100.0, 1.0),
              PowerLimitMeasurement(250, 90.0, 1.05),
              PowerLimitMeasurement(200, 95.0, 1.3)]
        self.assertEqual(joule.Energy().select(ms), 250)
        self.assertEqual(joule.Time().select(ms), 300)
        # MaxSlowdownConstraint where Zeus and joule agree: energy falls
        # with the limit among the feasible ones.
        self.assertEqual(joule.MaxSlowdownConstraint(1.1).select(ms), 250)
        with self.assertRaises(ValueError):
            joule.Energy().select(ms[:1])  # fewer than two points
        with self.assertRaises(TypeError):
            joule.Energy().select([object(), object()])

    @unittest.skipUnless(_lib.has("joule_select"), "no joule_select")
    def test_zeus_cost_world_size_maps_onto_the_gpu_count(self):
        # libjoule's cost weighs time by the GPUs the optimizer controls;
        # ZeusCost(eta, world_size) is rescaled so the same limit wins.
        rng = random.Random(11)
        for _ in range(300):
            ms = random_profile(rng)
            eta = rng.choice([0.05, 0.3, 0.5, 0.7, 0.95])
            w = rng.choice([1, 2, 4, 8])
            n = rng.choice([1, 2, 4, 8])
            spec = joule.ZeusCost(eta, w).spec(n)
            self.assertEqual(joule_select(spec, ms, n),
                             zeus_cost_choice(ms, eta, w), (eta, w, n, ms))


class FakeZeus:
    """Objects of Zeus's own selector classes, without Zeus installed."""

    @staticmethod
    def make(name, **attrs):
        cls = type(name, (), {"__module__": "zeus.optimizer.power_limit"})
        obj = cls()
        obj.__dict__.update(attrs)
        return obj


@unittest.skipUnless(_lib.has("joule_plo_create"),
                     "libjoule has no power-limit optimizer")
class OptimizerZeusNames(unittest.TestCase):
    def setUp(self):
        self.m = joule.Monitor(devices="sim:2:h100", sync=None)
        self.addCleanup(self.m.close)
        for gpu in (0, 1):
            joule.sim.set_load(self.m, gpu, 1.0)

    def plo(self, **kw):
        p = joule.PowerLimitOptimizer(self.m, **kw)
        self.addCleanup(p.close)
        return p

    def step(self, plo):
        plo.on_step_begin()
        start = joule.sim.work_done(self.m, 0)
        while joule.sim.work_done(self.m, 0) - start < WORK_PER_STEP:
            pass
        plo.on_step_end()

    def test_optimum_selector_objects(self):
        cases = [
            (joule.Energy(), "energy"),
            (joule.Time(), "time"),
            (joule.ZeusCost(0.5, world_size=2), "cost:0.5"),  # 2 GPUs
            (joule.ZeusCost(0.25), "cost:0.4"),  # world_size 1 on 2 GPUs
            (joule.MaxSlowdownConstraint(1.25), "slowdown:1.25"),
            (FakeZeus.make("Energy"), "energy"),
            (FakeZeus.make("Time"), "time"),
            (FakeZeus.make("ZeusCost", eta_knob=0.5, world_size=2),
             "cost:0.5"),
            (FakeZeus.make("MaxSlowdownConstraint", factor=1.1),
             "slowdown:1.1"),
        ]
        for sel, spec in cases:
            p = self.plo(optimum_selector=sel, profile_steps=2)
            self.assertEqual(p.selector, spec, sel)
            p.close()
        # Zeus's default, ZeusCost(0.5, world_size=len(gpu_indices)):
        self.assertEqual(self.plo().selector, "cost:0.5")
        # a selector object works as the positional selector too
        self.assertEqual(self.plo(selector=joule.Time()).selector, "time")

    def test_bad_selectors(self):
        # (a custom OptimumSelector subclass is accepted since issue 14:
        # test_zeus_dropin.py runs one)
        with self.assertRaises(TypeError):
            self.plo(optimum_selector=FakeZeus.make("Whatever"))
        with self.assertRaises(TypeError):
            self.plo(selector="energy", optimum_selector=joule.Time())
        with self.assertRaises(ValueError):
            self.plo(wait_steps=-1)
        with self.assertRaises(TypeError):
            self.plo(wait_steps=1.5)

    def test_wait_steps_like_zeus(self):
        # Zeus: Ready(steps=wait_steps + 1) counts down on each
        # on_step_begin; at 0 the first limit starts warming up. An epoch
        # end while waiting changes nothing.
        p = self.plo(wait_steps=2, warmup_steps=1, profile_steps=2)
        self.assertEqual(p.wait_steps, 2)
        states = []
        for i in range(4):
            p.on_step_begin()
            states.append(p.state)
            if i == 0:
                p.on_epoch_end()
                states.append(p.state)
        self.assertEqual(states, ["ready", "ready", "ready", "warmup",
                                  "profile"])
        q = self.plo(warmup_steps=1, profile_steps=2)  # joule's default: 0
        q.on_step_begin()
        self.assertEqual(q.state, "warmup")

    def test_zeus_callback_methods(self):
        p = self.plo(warmup_steps=1, profile_steps=2)
        for name in ("on_train_begin", "on_epoch_begin", "on_step_end",
                     "on_train_end"):
            getattr(p, name)()
            self.assertEqual(p.state, "ready", name)  # they do nothing
        p.on_evaluate(0.5)
        p.on_instruction_begin("forward")
        p.on_instruction_end("forward")
        self.assertEqual(p.state, "ready")
        p.close()
        self.assertTrue(p.closed)
        for name in ("on_epoch_begin", "on_step_begin", "on_step_end",
                     "on_epoch_end"):
            with self.assertRaises(joule.InvalidArgumentError):
                getattr(p, name)()
        w = self.plo(wait_steps=3)
        w.close()
        with self.assertRaises(joule.InvalidArgumentError):
            w.on_step_begin()  # closed is an error while waiting too

    def test_zeus_loop_reaches_the_selectors_choice(self):
        # exactly profile_steps per window: 14-step epochs must fit them
        p = self.plo(optimum_selector=joule.MaxSlowdownConstraint(1.2),
                     wait_steps=1, warmup_steps=1, profile_steps=4,
                     pl_step=125, target_uncertainty=0)
        for epoch in range(3):
            p.on_epoch_begin()
            for _ in range(14):
                self.step(p)
            p.on_epoch_end()
            if p.done:
                break
        self.assertTrue(p.done)
        ms = p.measurements
        self.assertEqual([pl for pl, _, _ in ms], [700, 575, 450, 325, 200])
        t_max = ms[0][1]
        feasible = [x for x in ms if x[1] <= 1.2 * t_max]
        best = min(feasible, key=lambda x: x[2])[0]
        self.assertEqual(p.optimal_power_limit, best)
        if _lib.has("joule_select"):
            self.assertEqual(joule.MaxSlowdownConstraint(1.2).select(ms), best)
        self.assertEqual(p.power_limit, best)


class ApproxInstantEnergy(unittest.TestCase):
    def short_window(self, m):
        m.begin_window("short")
        return m.end_window("short")

    def test_false_warns_about_estimated_windows(self):
        with joule.Monitor(devices="sim:1:h100", sync=None,
                           approx_instant_energy=False) as m:
            joule.sim.set_load(m, 0, 1.0)
            m.learn_timing()
            self.assertIs(m.approx_instant_energy, False)
            with self.assertWarns(UserWarning) as cm:
                r = self.short_window(m)
            self.assertIn("'short'", str(cm.warning))
            self.assertIn("gpu0", str(cm.warning))
            self.assertEqual(os.path.basename(cm.filename),
                             os.path.basename(__file__))  # the caller
            self.assertEqual(r.quality["gpu0"], "below_resolution")
            self.assertGreater(r.gpu_energy[0], 0.0)  # estimated, never 0
            with self.assertWarns(UserWarning):
                with m.window("ctx"):
                    pass
            # a window longer than the counter period is read, not warned
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                m.begin_window("long")
                time.sleep(0.35)
                r = m.end_window("long")
            self.assertIn(r.quality["gpu0"], ("exact", "approx"))

    def test_true_or_unset_estimate_silently(self):
        for flag in (True, None):
            with joule.Monitor(devices="sim:1:h100", sync=None,
                               approx_instant_energy=flag) as m:
                joule.sim.set_load(m, 0, 1.0)
                self.assertIs(m.approx_instant_energy, flag)
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    r = self.short_window(m)
                self.assertEqual(r.quality["gpu0"], "below_resolution")
                self.assertGreater(r.gpu_energy[0], 0.0)

    def test_bad_type(self):
        with self.assertRaises(TypeError):
            joule.Monitor(devices="sim:1:h100", approx_instant_energy="yes")


# Zeus 0.16's documented loop for GlobalPowerLimitOptimizer
# (docs/optimize/global_power_limit_optimizer.md), with the arguments of its
# API and a stand-in training step. Only the import lines are replaced.
ZEUS_IMPORTS = """\
from zeus.monitor import ZeusMonitor
from zeus.optimizer.power_limit import GlobalPowerLimitOptimizer, ZeusCost
"""
JOULE_IMPORT = ("from joule import Monitor as ZeusMonitor, "
                "PowerLimitOptimizer as GlobalPowerLimitOptimizer, ZeusCost\n")
ZEUS_SCRIPT = ZEUS_IMPORTS + textwrap.dedent("""\
    import time

    train_dataloader = [(i, i + 1) for i in range(200)]


    def learn(x, y):
        time.sleep(0.008)  # stands in for a training step on the GPUs


    # Data parallel training with four GPUs.
    # Omitting `gpu_indices` will use all GPUs, while respecting
    # `CUDA_VISIBLE_DEVICES`.
    monitor = ZeusMonitor(gpu_indices=[0,1,2,3])
    # The power limit optimizer profiles power limits during training
    # using the `ZeusMonitor` instance.
    plo = GlobalPowerLimitOptimizer(
        monitor,
        optimum_selector=ZeusCost(eta_knob=0.5, world_size=4),
        wait_steps=1,
        warmup_steps=2,
        profile_steps=40,
        pl_step=100,
    )

    for epoch in range(4):
        plo.on_epoch_begin()

        for x, y in train_dataloader:
            plo.on_step_begin()
            # Learn from x and y!
            learn(x, y)
            plo.on_step_end()

        plo.on_epoch_end()

        # Validate the model if needed, but `plo` won't care.
    """)
# Not part of the loop: report what happened for the test to check.
REPORT = textwrap.dedent("""\

    import json as _json, os as _os
    with open(_os.environ["JOULE_FAKE_STATE"]) as _f:
        _limits = [g["pl_w"] for g in _json.load(_f)["gpus"]]
    print("RESULT " + _json.dumps({
        "state": plo.state, "optimal": plo.optimal_power_limit,
        "applied": plo.power_limit, "measurements": plo.measurements,
        "gpus": monitor.gpu_indices, "nvml_limits": _limits,
        "backends": sorted({d.backend for d in monitor.devices
                            if d.kind_name == "gpu"})}))
    """)


def fake_nvml_path():
    """The NVML test double next to the libjoule.so under test."""
    path = os.environ.get("JOULE_TEST_FAKE_NVML")
    if path:
        return path
    lib = os.path.realpath(_lib.path) if os.path.sep in _lib.path else None
    if lib is None:
        return None
    build = os.path.dirname(os.path.dirname(lib))  # <build>/src/libjoule.so
    return os.path.join(build, "tests", "fakes", "nvml", "libnvidia-ml.so.1")


@unittest.skipUnless(_lib.has("joule_plo_create"),
                     "libjoule has no power-limit optimizer")
class ZeusLoopVerbatim(unittest.TestCase):
    def test_documented_loop_with_only_the_import_line_changed(self):
        nvml = fake_nvml_path()
        if not nvml or not os.path.exists(nvml):
            self.skipTest("no NVML test double (build target "
                          "joule_test_fakes) at %s" % nvml)
        script = ZEUS_SCRIPT.replace(ZEUS_IMPORTS, JOULE_IMPORT)
        self.assertNotEqual(script, ZEUS_SCRIPT)
        self.assertEqual(script.split("\n")[1:],
                         ZEUS_SCRIPT.split("\n")[2:])  # one line changed
        with tempfile.TemporaryDirectory(prefix="joule-py-zeus-") as d:
            state = os.path.join(d, "state.json")
            config = os.path.join(d, "nvml.json")
            with open(config, "w") as f:
                json.dump({"gpus": [{"model": "h100", "load": 1.0}] * 4,
                           "privileged": True, "state": state}, f)
            path = os.path.join(d, "train.py")
            with open(path, "w") as f:
                f.write(script + REPORT)
            env = dict(os.environ)
            for k in ("JOULE_DEVICES", "JOULE_JOB", "JOULE_DB",
                      "CUDA_VISIBLE_DEVICES", "JOULE_SIM_LOAD"):
                env.pop(k, None)
            env.update(JOULE_NVML_LIBRARY=nvml, JOULE_FAKE_NVML_CONFIG=config,
                       JOULE_FAKE_STATE=state, JOULE_LIBRARY=_lib.path,
                       XDG_DATA_HOME=d, HOME=d,
                       PYTHONPATH=os.pathsep.join(
                           [os.path.dirname(os.path.dirname(joule.__file__))]
                           + [p for p in [env.get("PYTHONPATH")] if p]))
            r = subprocess.run([sys.executable, path], env=env, cwd=d,
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            line = [x for x in r.stdout.splitlines()
                    if x.startswith("RESULT ")]
            self.assertEqual(len(line), 1, r.stdout + r.stderr)
            res = json.loads(line[0][len("RESULT "):])
            with open(state) as f:
                after_exit = [g["pl_w"] for g in json.load(f)["gpus"]]

        self.assertEqual(res["backends"], ["nvml"])
        self.assertEqual(res["gpus"], [0, 1, 2, 3])
        self.assertEqual(res["state"], "done")
        ms = res["measurements"]
        self.assertEqual([pl for pl, _, _ in ms], [700, 600, 500, 400, 300, 200])
        self.assertTrue(all(t > 0 and e > 0 for _, t, e in ms))
        best = zeus_cost_choice(ms, 0.5, 4)
        self.assertEqual(res["optimal"], best)
        self.assertEqual(res["applied"], best)
        self.assertEqual(res["nvml_limits"], [best] * 4)  # on every GPU
        # Zeus: "Restore all GPUs back to their maximum power limit on exit"
        self.assertEqual(after_exit, [700] * 4)


if __name__ == "__main__":
    unittest.main()
