"""Real PyTorch: train a small MLP on the CPU for 50 steps, one window per
step, on simulated GPUs.

Runs where torch can be imported: in this interpreter, or else in Debian's
/usr/bin/python3 (where the python3-torch package installs it; `make test`
installs that package when run as root). Skips with a message otherwise.
"""

import os
import subprocess
import sys
import unittest

import joule
from joule import _lib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(REPO, "examples", "pytorch_train.py")
STEPS = 50

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False


def other_torch_python():
    """Another interpreter that can import torch (Debian's python3)."""
    if os.environ.get("JOULE_TORCH_CHILD"):
        return None
    for exe in ("/usr/bin/python3",):
        if os.path.realpath(exe) == os.path.realpath(sys.executable) or \
                not os.path.exists(exe):
            continue
        r = subprocess.run([exe, "-c", "import torch"], capture_output=True,
                           timeout=120)
        if r.returncode == 0:
            return exe
    return None


NO_TORCH = ("PyTorch is not installed for %s (nor for /usr/bin/python3): "
            "apt-get install python3-torch (Debian), or pip install torch"
            % sys.executable)


class TorchTraining(unittest.TestCase):
    def run_elsewhere(self, exe, test):
        env = dict(os.environ, JOULE_TORCH_CHILD="1",
                   PYTHONPATH=os.path.dirname(HERE))
        r = subprocess.run([exe, "-m", "unittest", "-v",
                            "tests.test_torch.TorchTraining." + test],
                           cwd=os.path.dirname(HERE), env=env,
                           capture_output=True, text=True, timeout=300)
        sys.stderr.write("\n[ran in %s]\n%s" % (exe, r.stderr[-3000:]))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("skipped", r.stderr)

    def dispatch(self, test):
        if HAVE_TORCH:
            return True
        exe = other_torch_python()
        if exe is None:
            self.skipTest(NO_TORCH)
        self.run_elsewhere(exe, test)
        return False

    def test_mlp_every_step_measured(self):
        if not self.dispatch("test_mlp_every_step_measured"):
            return
        import torch
        from torch import nn
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x = torch.randn(256, 16)
        y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
        measured, losses = [], []
        with joule.Monitor(devices="sim:2:h100") as m:  # sync="auto"
            joule.sim.set_load(m, 0, 0.7)
            m.begin_window("training")

            @m.window("step", on_end=measured.append)
            def step(i):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                return loss.item()

            for i in range(STEPS):
                losses.append(step(i))
            total = m.end_window("training")
            self.assertEqual(m.open_window_count(), 0)
        self.assertEqual(len(measured), STEPS)
        self.assertLess(losses[-1], losses[0])  # it did learn
        for r in measured:
            self.assertEqual(sorted(r.gpu_energy), [0, 1])
            self.assertGreater(r.time, 0.0)
            self.assertGreater(r.gpu_energy[0], r.gpu_energy[1])
        self.assertLessEqual(sum(r.time for r in measured), total.time)

    def test_power_limit_optimizer(self):
        if not _lib.has("joule_plo_create"):
            self.skipTest("this libjoule.so has no power-limit optimizer")
        if not self.dispatch("test_power_limit_optimizer"):
            return
        import torch
        from torch import nn
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x = torch.randn(256, 16)
        y = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
        measured = []
        with joule.Monitor(devices="sim:2:h100") as m:
            for gpu in (0, 1):
                joule.sim.set_load(m, gpu, 0.9)
            # 5 limits (700 W down to 200 W) x (1 warmup + 5 profiled)
            # steps: 30 of the 50 steps profile, the rest run at the choice.
            plo = joule.PowerLimitOptimizer(m, warmup_steps=1, profile_steps=5,
                                            pl_step=125, target_uncertainty=0)
            for i in range(STEPS):
                plo.on_step_begin()
                with m.window("step", on_end=measured.append):
                    opt.zero_grad()
                    loss = nn.functional.cross_entropy(model(x), y)
                    loss.backward()
                    opt.step()
                if i == 24:
                    plo.on_epoch_end()  # two epochs of 25 steps
            self.assertEqual(plo.state, "done")
            self.assertEqual(len(plo.measurements), 5)
            self.assertIn(plo.optimal_power_limit, [700, 575, 450, 325, 200])
            self.assertEqual(plo.power_limit, plo.optimal_power_limit)
        self.assertEqual(len(measured), STEPS)

    def test_example_script(self):
        exe = sys.executable if HAVE_TORCH else other_torch_python()
        if exe is None:
            self.skipTest(NO_TORCH)
        env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
        r = subprocess.run([exe, EXAMPLE, "--devices", "sim:2:h100",
                            "--epochs", "2", "--steps", "5"],
                           env=env, capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("steps measured: 10", r.stdout)
        self.assertIn("epoch 1:", r.stdout)


if __name__ == "__main__":
    unittest.main()
