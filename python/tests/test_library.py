"""Finding libjoule.so: $JOULE_LIBRARY, next to the package (installed
tree), the build directory, the system loader; a clear ImportError that
lists every place looked when none works."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import joule
from joule import _lib

PKG = os.path.dirname(os.path.abspath(joule.__file__))
REPO = os.path.dirname(os.path.dirname(PKG))


def run_import(pythonpath, env_extra=None, drop=("JOULE_LIBRARY",)):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = pythonpath
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-c", "import joule; print(joule.library_path)"],
        env=env, capture_output=True, text=True, timeout=60,
        cwd=tempfile.gettempdir())


class Lookup(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="joule-py-lib-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_loaded_library(self):
        self.assertEqual(joule.library_version, "0.1.0")
        self.assertTrue(os.path.exists(joule.library_path))
        if os.environ.get("JOULE_LIBRARY"):
            self.assertEqual(joule.library_path, os.environ["JOULE_LIBRARY"])

    def test_candidate_order(self):
        pkg = "/opt/x/lib/python3/dist-packages/joule"
        c = [p for p, _ in _lib.candidates(env={}, pkg_dir=pkg)]
        self.assertEqual(c[:7], [
            pkg + "/libjoule.so",
            "/opt/x/lib/python3/dist-packages/libjoule.so",
            "/opt/x/lib/python3/dist-packages/lib/libjoule.so",
            "/opt/x/lib/python3/libjoule.so",
            "/opt/x/lib/python3/lib/libjoule.so",
            "/opt/x/lib/libjoule.so",
            "/opt/x/lib/lib/libjoule.so"])
        self.assertEqual(c[7], "/opt/x/lib/python3/build/src/libjoule.so")
        self.assertEqual(c[8:], ["libjoule.so.0", "libjoule.so", None])
        # $JOULE_LIBRARY, when set, is the only place tried
        self.assertEqual(_lib.candidates(env={"JOULE_LIBRARY": "/a.so"},
                                         pkg_dir=pkg),
                         [("/a.so", "$JOULE_LIBRARY")])

    def test_error_lists_every_place(self):
        cands = [(os.path.join(self.tmp, "a", "libjoule.so"), "one"),
                 (os.path.join(self.tmp, "b", "libjoule.so"), "two"),
                 ("libjoule-nonexistent.so.9", "system loader")]
        with self.assertRaises(ImportError) as cm:
            _lib.load(cands)
        msg = str(cm.exception)
        for path, how in cands:
            self.assertIn(path, msg)
            self.assertIn(how, msg)
        self.assertIn("JOULE_LIBRARY", msg)
        # a file that exists but is no library: dlopen's reason
        bad = os.path.join(self.tmp, "libjoule.so")
        with open(bad, "w") as f:
            f.write("not an ELF file")
        with self.assertRaises(ImportError) as cm:
            _lib.load([(bad, "test")])
        self.assertIn(bad, str(cm.exception))

    def test_wrong_joule_library_fails_at_import(self):
        missing = os.path.join(self.tmp, "nope", "libjoule.so")
        p = run_import(os.path.dirname(PKG), {"JOULE_LIBRARY": missing})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ImportError", p.stderr)
        self.assertIn(missing, p.stderr)
        self.assertIn("$JOULE_LIBRARY", p.stderr)

    def _copy_package(self, dest):
        shutil.copytree(PKG, dest,
                        ignore=shutil.ignore_patterns("__pycache__"))

    def test_installed_tree(self):
        # make install: <libdir>/libjoule.so and
        # <libdir>/python3/dist-packages/joule
        libdir = os.path.join(self.tmp, "prefix", "lib")
        site = os.path.join(libdir, "python3", "dist-packages")
        self._copy_package(os.path.join(site, "joule"))
        shutil.copy(joule.library_path, os.path.join(libdir, "libjoule.so"))
        p = run_import(site)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(),
                         os.path.join(libdir, "libjoule.so"))

    def test_next_to_the_package(self):
        site = os.path.join(self.tmp, "site")
        self._copy_package(os.path.join(site, "joule"))
        shutil.copy(joule.library_path,
                    os.path.join(site, "joule", "libjoule.so"))
        p = run_import(site)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(),
                         os.path.join(site, "joule", "libjoule.so"))

    def test_build_directory_of_the_checkout(self):
        built = os.path.join(REPO, "build", "src", "libjoule.so")
        if not os.path.exists(built):
            self.skipTest("no %s (the checkout was built elsewhere)" % built)
        p = run_import(os.path.dirname(PKG))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), built)


if __name__ == "__main__":
    unittest.main()
