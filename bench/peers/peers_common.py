"""Helpers shared by the peer benchmarks' Python drivers.

* patch_pynvml(): the NVML test double (tests/fakes/fake_nvml.c) exports the
  NVML functions joule uses, but not nvmlInitWithFlags, which pynvml's
  nvmlInit() calls (nvidia-ml-py >= 11.5), nor nvmlDeviceGetC2cModeInfoV,
  which Zeus probes for Grace Hopper. Map the first to nvmlInit_v2 (same
  effect with flags 0) and make the second answer NVML_ERROR_NOT_SUPPORTED,
  as a real H100 does. Nothing else of pynvml is touched. Must run in every
  process that imports pynvml -- including Zeus's spawned PowerMonitor
  children, which re-import the driver module -- so the drivers call it at
  import time.
* fake_energy_j(i): the double's exact model energy (J) of GPU i in this
  process (a test hook of the double), the ground truth.
* cpu_s(pids): user+system CPU seconds of this process and its children.
"""
import ctypes
import os
import time

NOTES = []


def patch_pynvml():
    try:
        import pynvml
    except ImportError:
        return False
    try:
        pynvml._LoadNvmlLibrary()
    except pynvml.NVMLError:
        return False
    lib = pynvml.nvmlLib
    cache = pynvml._nvmlGetFunctionPointer_cache
    if not hasattr(lib, "nvmlInitWithFlags") and hasattr(lib, "nvmlInit_v2"):
        f = lib.nvmlInit_v2
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint)

        def init_with_flags(flags, _f=f):
            return _f()
        cache["nvmlInitWithFlags"] = proto(init_with_flags)
        NOTES.append("pynvml: nvmlInitWithFlags missing in the double; mapped to nvmlInit_v2")
    if not hasattr(lib, "nvmlDeviceGetC2cModeInfoV"):
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
        cache["nvmlDeviceGetC2cModeInfoV"] = proto(
            lambda h, p: pynvml.NVML_ERROR_NOT_SUPPORTED)
        NOTES.append("pynvml: nvmlDeviceGetC2cModeInfoV missing in the double; answers NOT_SUPPORTED")
    return True


_hooks = None


def _double():
    global _hooks
    if _hooks is None:
        path = os.environ["JOULE_NVML_LIBRARY"]
        _hooks = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_NOW)
        _hooks.fake_energy_j.restype = ctypes.c_double
        _hooks.fake_energy_j.argtypes = [ctypes.c_int]
    return _hooks


def fake_energy_j(i):
    """Exact model energy of GPU i (J) in this process's copy of the double."""
    return _double().fake_energy_j(i)


def cpu_s(include_children=True):
    """CPU seconds (user+system, all threads) of this process and its live
    descendants, from /proc."""
    tck = os.sysconf("SC_CLK_TCK")

    def one(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tck
        except OSError:
            return 0.0
    total = time.process_time()  # this process, every thread, ns resolution
    if include_children:
        for pid in descendants(os.getpid()):
            total += one(pid)
    return total


def descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, pending = [], [pid]
    while pending:
        p = pending.pop()
        for c in kids.get(p, []):
            out.append(c)
            pending.append(c)
    return out


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
