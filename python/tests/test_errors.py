"""Bad arguments raise ValueError / TypeError carrying a clear message;
library errors map onto the joule exception hierarchy."""

import unittest

import joule
from joule import errors


class BadArguments(unittest.TestCase):
    def setUp(self):
        self.m = joule.Monitor(devices="sim:2:h100")
        self.addCleanup(self.m.close)

    def test_bad_device_spec(self):
        with self.assertRaises(ValueError) as cm:
            joule.Monitor(devices="gpu:x")
        e = cm.exception
        self.assertIsInstance(e, joule.InvalidArgumentError)
        self.assertIsInstance(e, joule.JouleError)
        self.assertEqual(e.code_name, "JOULE_EINVAL")
        self.assertIn("gpu:x", str(e))  # the library names the item
        with self.assertRaises(ValueError):
            joule.Monitor(devices="sim:2:nosuchgpu")
        with self.assertRaises(ValueError):
            joule.Monitor(devices="  ")

    def test_absent_device(self):
        with self.assertRaises(joule.DeviceNotFoundError) as cm:
            joule.Monitor(devices="sim:1:h100+gpu:3")
        self.assertIn("gpu3 not found", str(cm.exception))
        self.assertEqual(cm.exception.code, errors.JOULE_ENODEV)

    def test_bad_index_lists(self):
        for bad in ("0", 0, [0.5], [True], [None], b"0"):
            with self.assertRaises(TypeError, msg=repr(bad)):
                joule.Monitor(gpus=bad, devices="sim:1:h100")
        with self.assertRaises(ValueError):
            joule.Monitor(gpus=[-1], devices="sim:1:h100")
        with self.assertRaises(ValueError):
            joule.Monitor(gpus=[], cpus=[])
        with self.assertRaises(TypeError):
            joule.Monitor(devices=2)
        with self.assertRaises(TypeError):
            joule.Monitor(gpus=[0], gpu_indices=[0])
        with self.assertRaises(TypeError):
            joule.Monitor(cpus=[0], cpu_indices=[0])

    def test_unknown_window(self):
        with self.assertRaises(ValueError) as cm:
            self.m.end_window("never-begun")
        self.assertIsInstance(cm.exception, joule.NotFoundError)
        self.assertIn("no window named 'never-begun'", str(cm.exception))
        with self.assertRaises(joule.NotFoundError):
            self.m.end_window("never-begun", cancel=True)

    def test_window_already_open(self):
        self.m.begin_window("w")
        with self.assertRaises(ValueError) as cm:
            self.m.begin_window("w")
        self.assertIsInstance(cm.exception, joule.AlreadyExistsError)
        self.assertIn("already open", str(cm.exception))
        self.m.end_window("w")

    def test_bad_window_names(self):
        for bad in (None, 3, b"bytes", ["x"]):
            with self.assertRaises(TypeError, msg=repr(bad)):
                self.m.begin_window(bad)
            with self.assertRaises(TypeError):
                self.m.end_window(bad)
            with self.assertRaises(TypeError):
                self.m.window(bad)
        for bad in ("", "a,b", 'say "hi"', "line\nbreak", "nul\0", "x" * 300):
            with self.assertRaises(ValueError, msg=repr(bad)):
                self.m.begin_window(bad)
        self.assertEqual(self.m.open_window_count(), 0)
        # non-ASCII names are fine (UTF-8)
        with self.m.window("étape-1") as w:
            pass
        self.assertEqual(w.measurement.name, "étape-1")

    def test_other_bad_options(self):
        with self.assertRaises(ValueError):
            joule.Monitor(devices="sim:1:h100", log_file="/tmp/x",
                          log_format="xml")
        with self.assertRaises(TypeError):
            joule.Monitor(devices="sim:1:h100", keeper_interval_ms="10")
        with self.assertRaises(joule.JouleError):
            joule.Monitor(devices="sim:1:h100",
                          log_file="/nonexistent-dir/w.csv")
        with self.assertRaises(TypeError):
            self.m.window("w", on_end=5)
        with self.assertRaises(TypeError):
            self.m.window("w")(42)

    def test_sim_helpers(self):
        with self.assertRaises(TypeError):
            joule.sim.set_load(self.m, "0", 0.5)
        with self.assertRaises(TypeError):
            joule.sim.set_load(self.m, 0, "high")
        with self.assertRaises(ValueError):
            joule.sim.set_load(self.m, 0, 1.5)
        with self.assertRaises(joule.DeviceNotFoundError):
            joule.sim.set_load(self.m, 7, 0.5)


class Hierarchy(unittest.TestCase):
    def test_mapping(self):
        cases = {
            errors.JOULE_EINVAL: (joule.InvalidArgumentError, ValueError),
            errors.JOULE_ENOENT: (joule.NotFoundError, ValueError),
            errors.JOULE_EEXIST: (joule.AlreadyExistsError, ValueError),
            errors.JOULE_ERANGE: (joule.OutOfRangeError, ValueError),
            errors.JOULE_ENODEV: (joule.DeviceNotFoundError, RuntimeError),
            errors.JOULE_EPERM: (joule.PermissionDeniedError,
                                 PermissionError),
            errors.JOULE_ENOTSUP: (joule.NotSupportedError, RuntimeError),
            errors.JOULE_EGPULOST: (joule.GPULostError, RuntimeError),
            errors.JOULE_ENOMEM: (joule.OutOfMemoryError, MemoryError),
            errors.JOULE_EIO: (joule.JouleError, RuntimeError),
            errors.JOULE_ELIB: (joule.JouleError, RuntimeError),
            errors.JOULE_EBUSY: (joule.JouleError, RuntimeError),
        }
        lib = joule._lib.lib
        for code, (cls, builtin) in cases.items():
            e = errors.error_for(code, "msg")
            self.assertIs(type(e), cls)
            self.assertIsInstance(e, builtin)
            self.assertIsInstance(e, joule.JouleError)
            self.assertEqual(e.code, code)
            self.assertEqual(str(e), "msg")
            # names agree with the library's joule_strerror()
            self.assertEqual(e.code_name,
                             lib.joule_strerror(code).decode())

    def test_codes_come_from_the_library(self):
        lib = joule._lib.lib
        # every code the library names, and only those, with its value
        self.assertEqual(errors.CODES["OK"], 0)
        self.assertEqual(errors.JOULE_EINVAL, -1)
        self.assertEqual(errors.JOULE_EBUSY, -12)
        for name, code in errors.CODES.items():
            self.assertEqual(lib.joule_error_name(code).decode(), name)
            self.assertEqual(getattr(errors, "JOULE_" + name), code)
        self.assertIsNone(lib.joule_error_name(-1000))
        self.assertIsNone(lib.joule_error_name(1))

    def test_message_is_read_on_the_failing_thread(self):
        import threading
        m = joule.Monitor(devices="sim:1:h100")
        self.addCleanup(m.close)
        msgs = []

        def fail(name):
            for _ in range(200):
                try:
                    m.end_window(name)
                except joule.NotFoundError as e:
                    msgs.append((name, str(e)))

        ts = [threading.Thread(target=fail, args=("n%d" % i,))
              for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(len(msgs), 800)
        for name, msg in msgs:
            self.assertIn("'%s'" % name, msg)


if __name__ == "__main__":
    unittest.main()
