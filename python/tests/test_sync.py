"""The sync hook at window edges: custom callables, per-edge sync=False,
exceptions from the hook, and the framework choices (with stand-in
framework modules, since no GPU framework is needed for the test)."""

import sys
import threading
import types
import unittest

import joule
from joule import sync as jsync


class Counter:
    def __init__(self):
        self.calls = []

    def __call__(self):
        self.calls.append(threading.get_ident())


class CustomSync(unittest.TestCase):
    def setUp(self):
        self.hook = Counter()
        self.m = joule.Monitor(devices="sim:2:h100", sync=self.hook)
        self.addCleanup(self.m.close)

    def test_called_exactly_twice_per_window(self):
        for n in range(1, 6):
            with self.m.window("w"):
                pass
            self.assertEqual(len(self.hook.calls), 2 * n)

        @self.m.window("deco")
        def f():
            pass

        f()
        self.m.begin_window("a")
        self.m.end_window("a")
        self.assertEqual(len(self.hook.calls), 14)

    def test_runs_on_the_calling_thread(self):
        t = threading.Thread(target=lambda: (self.m.begin_window("t"),
                                             self.m.end_window("t")))
        t.start()
        t.join()
        self.assertEqual(len(self.hook.calls), 2)
        self.assertEqual(self.hook.calls[0], t.ident)

    def test_sync_false_and_cancel_skip_it(self):
        self.m.begin_window("a", sync=False)
        self.m.end_window("a", sync=False)
        self.assertEqual(self.hook.calls, [])
        with self.m.window("b", sync=False):
            pass
        self.assertEqual(self.hook.calls, [])
        self.m.begin_window("c")
        self.m.end_window("c", cancel=True)  # a cancel reads no counters
        self.assertEqual(len(self.hook.calls), 1)
        self.m.begin_window("d", sync_execution=False)  # Zeus's keyword
        self.m.end_window("d", sync_execution=True)
        self.assertEqual(len(self.hook.calls), 2)

    def test_hook_exception_propagates_and_leaves_nothing_open(self):
        def bad():
            raise OSError("device lost")

        with joule.Monitor(devices="sim:1:h100", sync=bad) as m:
            with self.assertRaises(OSError):
                m.begin_window("w")
            self.assertEqual(m.open_window_count(), 0)
            m.begin_window("w", sync=False)
            with self.assertRaises(OSError):
                m.end_window("w")
            self.assertEqual(m.open_window_count(), 0)
            with self.assertRaises(OSError):
                with m.window("cm"):
                    pass
            self.assertEqual(m.open_window_count(), 0)
            # the error does not stick to later calls
            m.begin_window("ok", sync=False)
            self.assertIsNotNone(m.end_window("ok", sync=False))

    def test_no_sync(self):
        for choice in (None, False):
            with joule.Monitor(devices="sim:1:h100", sync=choice) as m:
                with m.window("w"):
                    pass


class FrameworkChoices(unittest.TestCase):
    """'auto', 'torch', 'jax', 'cupy' call the framework's synchronize for
    the monitored real GPUs. Stand-in modules record the calls."""

    def fake(self, name, **attrs):
        mod = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(mod, k, v)
        old = sys.modules.get(name)
        sys.modules[name] = mod
        self.addCleanup(lambda: sys.modules.__setitem__(name, old)
                        if old is not None else sys.modules.pop(name, None))
        return mod

    def fake_torch(self, available=True, count=2):
        calls = []
        cuda = types.SimpleNamespace(
            is_available=lambda: available,
            device_count=lambda: count,
            synchronize=lambda device=None: calls.append(device))
        self.fake("torch", cuda=cuda)
        return calls

    def test_auto_without_torch_does_nothing(self):
        saved = sys.modules.pop("torch", None)
        if saved is not None:
            self.addCleanup(sys.modules.__setitem__, "torch", saved)
        fn, builtin = jsync.resolve("auto", [0, 1])
        self.assertFalse(builtin)
        fn()  # no torch imported: nothing to do, no error

    def test_auto_with_torch_cuda(self):
        calls = self.fake_torch(count=2)
        fn, _ = jsync.resolve("auto", [0, 1, 3])  # gpu3 is not CUDA-visible
        fn()
        fn()
        self.assertEqual(calls, [0, 1, 0, 1])

    def test_auto_with_cpu_only_torch(self):
        calls = self.fake_torch(available=False)
        fn, _ = jsync.resolve("auto", [0])
        fn()
        self.assertEqual(calls, [])

    def test_auto_skips_simulated_gpus(self):
        calls = self.fake_torch()
        with joule.Monitor(devices="sim:2:h100") as m:  # sync="auto"
            with m.window("w"):
                pass
        self.assertEqual(calls, [])  # sim GPUs are not CUDA devices

    def test_torch(self):
        calls = self.fake_torch()
        fn, _ = jsync.resolve("torch", [1])
        fn()
        self.assertEqual(calls, [1])

    def test_jax(self):
        calls = []
        self.fake("jax", effects_barrier=lambda: calls.append("barrier"))
        fn, _ = jsync.resolve("jax", [0])
        fn()
        self.assertEqual(calls, ["barrier"])

    def test_cupy(self):
        calls = []

        class Device:
            def __init__(self, i):
                self.i = i

            def synchronize(self):
                calls.append(self.i)

        cuda = types.SimpleNamespace(
            Device=Device,
            runtime=types.SimpleNamespace(getDeviceCount=lambda: 2))
        self.fake("cupy", cuda=cuda)
        fn, _ = jsync.resolve("cupy", [0, 1])
        fn()
        self.assertEqual(calls, [0, 1])

    def test_missing_framework(self):
        sys.modules["jax"] = None  # makes "import jax" fail
        self.addCleanup(sys.modules.pop, "jax", None)
        with self.assertRaises(ImportError) as cm:
            joule.Monitor(devices="sim:1:h100", sync="jax")
        self.assertIn("sync='jax'", str(cm.exception))

    def test_zeus_keyword(self):
        calls = self.fake_torch()
        with joule.Monitor(devices="sim:1:h100",
                           sync_execution_with="torch") as m:
            with m.window("w"):
                pass
        self.assertEqual(calls, [])  # sim only: nothing to synchronize

    def test_bad_choices(self):
        with self.assertRaises(ValueError):
            joule.Monitor(devices="sim:1:h100", sync="tensorflow")
        with self.assertRaises(TypeError):
            joule.Monitor(devices="sim:1:h100", sync=3)
        with self.assertRaises(TypeError):
            joule.Monitor(devices="sim:1:h100", sync="torch",
                          sync_execution_with="jax")


if __name__ == "__main__":
    unittest.main()
