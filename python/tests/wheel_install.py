"""`pip wheel .` builds an installable joule in a fresh virtual environment.

Not part of `unittest discover` (the name does not start with "test"): it
builds libjoule from scratch, so CTest runs it as its own test,
python_wheel, one at a time (RESOURCE_LOCK, and a file lock against a
second build tree's run). It skips, saying why, when no virtual
environment with pip can be made or scikit-build-core cannot be fetched
(no PyPI and not in the pip find-links).

Run by hand: python3 -m unittest -v tests.wheel_install   (from python/)
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
LOCK = os.path.join(tempfile.gettempdir(), "joule-wheel-test.lock")
BUILD_TIMEOUT_S = 240

# Runs in the fresh environment, from a folder outside the checkout.
PROBE = r"""
import json, sys, time
import importlib.metadata as md
import joule
m = joule.Monitor(devices="sim:1:h100")
m.begin_window("w")
time.sleep(0.3)
r = m.end_window("w")
json.dump({"library_path": joule.library_path,
           "package_file": joule.__file__,
           "version": joule.__version__,
           "library_version": joule.library_version,
           "dist_version": md.version("joule-energy"),
           "labels": [d.label for d in m.devices],
           "fast": m.fast,
           "time": r.time, "gpu_energy": r.gpu_energy[0]}, sys.stdout)
"""


def clean_env():
    """The environment without anything that points at the checkout's
    package or library, so the installed copy is the one imported."""
    env = dict(os.environ)
    for k in ("JOULE_LIBRARY", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(k, None)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    return env


def run(cmd, timeout, cwd=None):
    return subprocess.run(cmd, cwd=cwd, env=clean_env(), timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)


class WheelInstall(unittest.TestCase):

    def setUp(self):
        self.lock = open(LOCK, "a")
        fcntl.flock(self.lock, fcntl.LOCK_EX)  # one build at a time
        self.tmp = tempfile.mkdtemp(prefix="joule-wheel-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        self.lock.close()

    def test_wheel_builds_installs_and_measures(self):
        venv = os.path.join(self.tmp, "venv")
        made = run([sys.executable, "-m", "venv", venv], 120)
        py = os.path.join(venv, "bin", "python")
        if made.returncode != 0 or not os.path.exists(py):
            self.skipTest("cannot make a virtual environment with pip "
                          "(python3 -m venv; Debian: apt-get install "
                          "python3-venv): " + made.stdout[-300:])

        # The build backend must be reachable before a build failure can
        # mean anything.
        probe = run([py, "-m", "pip", "download", "--no-deps", "-d",
                     os.path.join(self.tmp, "probe"),
                     "scikit-build-core>=0.10"], 120)
        if probe.returncode != 0:
            self.skipTest("scikit-build-core cannot be fetched (no PyPI "
                          "access and not in the pip find-links): " +
                          probe.stdout.strip().splitlines()[-1][-300:])

        dist = os.path.join(self.tmp, "dist")
        built = run([py, "-m", "pip", "wheel", "--no-deps", "-w", dist, REPO],
                    BUILD_TIMEOUT_S)
        self.assertEqual(built.returncode, 0,
                         "pip wheel . failed:\n" + built.stdout[-4000:])
        wheels = [f for f in os.listdir(dist) if f.endswith(".whl")]
        self.assertEqual(len(wheels), 1, wheels)
        self.assertTrue(wheels[0].startswith("joule_energy-"), wheels[0])
        wheel = os.path.join(dist, wheels[0])

        names = zipfile.ZipFile(wheel).namelist()
        self.assertIn("joule/__init__.py", names)
        self.assertIn("joule/_lib.py", names)
        self.assertIn("joule/libjoule.so", names)
        tops = {n.split("/")[0] for n in names}
        self.assertEqual({t for t in tops if not t.endswith(".dist-info")},
                         {"joule"}, "only the package goes in the wheel")
        self.assertFalse([n for n in names if "__pycache__" in n])
        self.assertTrue([n for n in names if n.endswith("licenses/LICENSE")])

        inst = run([py, "-m", "pip", "install", "--no-deps", "--no-index",
                    wheel], 120)
        self.assertEqual(inst.returncode, 0, inst.stdout[-2000:])

        out = run([py, "-c", PROBE], 120, cwd=self.tmp)
        self.assertEqual(out.returncode, 0, out.stdout[-2000:])
        got = json.loads(out.stdout)
        site = os.path.realpath(venv)
        pkg = os.path.dirname(os.path.realpath(got["package_file"]))
        self.assertTrue(pkg.startswith(site), got)
        self.assertEqual(os.path.realpath(got["library_path"]),
                         os.path.join(pkg, "libjoule.so"),
                         "the library bundled next to the package loads")
        self.assertEqual(got["version"], got["dist_version"])
        self.assertEqual(got["library_version"], got["dist_version"])
        self.assertEqual(got["labels"], ["gpu0"])
        # joule._fast is in the wheel where the build found Python's headers,
        # and then windows go through it.
        fast = [n for n in names if n.startswith("joule/_fast")]
        self.assertEqual(got["fast"], bool(fast), names)
        # docs/sim.md: an idle H100 draws 70 W, at most 700 W.
        self.assertGreaterEqual(got["time"], 0.3)
        self.assertLess(got["time"], 30)
        self.assertGreater(got["gpu_energy"], 0.5 * 70 * got["time"])
        self.assertLess(got["gpu_energy"], 1.2 * 700 * got["time"])


if __name__ == "__main__":
    unittest.main()
