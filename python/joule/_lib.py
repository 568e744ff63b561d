"""Finding and loading libjoule.so, and the ctypes declarations of the C API.

Lookup order (the first that exists and loads wins):

1. ``$JOULE_LIBRARY`` -- a path to the library. When it is set it is the
   only place tried, so a wrong path is an error rather than a silent switch
   to another copy.
2. Next to the package: ``<pkg>/libjoule.so``, then for each of the three
   directories above the package directory ``<pkg>`` (``A``):
   ``A/libjoule.so`` and ``A/lib/libjoule.so``. ``make install`` puts the
   package in ``<libdir>/python3/dist-packages/joule``, so the library is in
   ``A = <libdir>`` three levels up.
3. The source tree's build directory: ``<repo>/build/src/libjoule.so``
   (for ``PYTHONPATH=python`` in a checkout built with ``make``).
4. The system loader: ``libjoule.so.0`` / ``libjoule.so`` through dlopen's
   own search (``LD_LIBRARY_PATH``, ``ld.so.cache``), then
   ``ctypes.util.find_library("joule")``.

If none loads, ``ImportError`` lists every place looked and why it failed.
"""

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, c_char_p, c_double, c_int, c_uint,
                    c_uint32, c_uint64, c_void_p)

LIBRARY_NAME = "libjoule.so"
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def candidates(env=None, pkg_dir=None):
    """Paths (or loader names) tried in order, as (where, how-found) pairs."""
    env = os.environ if env is None else env
    pkg_dir = _PKG_DIR if pkg_dir is None else pkg_dir
    explicit = env.get("JOULE_LIBRARY")
    if explicit:
        return [(explicit, "$JOULE_LIBRARY")]
    out = [(os.path.join(pkg_dir, LIBRARY_NAME), "next to the package")]
    up = pkg_dir
    for _ in range(3):
        up = os.path.dirname(up)
        out.append((os.path.join(up, LIBRARY_NAME), "installed tree"))
        out.append((os.path.join(up, "lib", LIBRARY_NAME), "installed tree"))
    repo = os.path.dirname(os.path.dirname(pkg_dir))
    out.append((os.path.join(repo, "build", "src", LIBRARY_NAME),
                "build directory"))
    out.append(("libjoule.so.0", "system loader"))
    out.append(("libjoule.so", "system loader"))
    out.append((None, "ctypes.util.find_library('joule')"))
    # Drop duplicates (short package paths repeat directories).
    seen, unique = set(), []
    for path, how in out:
        if path not in seen:
            seen.add(path)
            unique.append((path, how))
    return unique


def load(cands=None):
    """Loads the first candidate that works; ImportError lists them all."""
    cands = candidates() if cands is None else cands
    tried = []
    for path, how in cands:
        if path is None:
            found = ctypes.util.find_library("joule")
            if not found:
                tried.append("%s: not found" % how)
                continue
            path = found
        elif os.sep in path and not os.path.exists(path):
            tried.append("%s (%s): no such file" % (path, how))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s): %s" % (path, how, e))
    raise ImportError(
        "joule: cannot load libjoule.so. Looked in:\n  " + "\n  ".join(tried) +
        "\nBuild it (make), or set JOULE_LIBRARY to the path of libjoule.so.")


sync_fn_t = CFUNCTYPE(None, c_void_p)

# (name, restype, argtypes) for every function the binding calls.
_PROTOTYPES = [
    ("joule_version", c_char_p, []),
    ("joule_last_error", c_char_p, []),
    ("joule_strerror", c_char_p, [c_int]),
    ("joule_error_name", c_char_p, [c_int]),
    ("joule_options_create", c_int, [POINTER(c_void_p)]),
    ("joule_options_destroy", None, [c_void_p]),
    ("joule_options_set_devices", c_int, [c_void_p, c_char_p]),
    ("joule_options_set_sysfs_root", c_int, [c_void_p, c_char_p]),
    ("joule_options_set_log", c_int, [c_void_p, c_char_p, c_int]),
    ("joule_options_set_sync", c_int, [c_void_p, sync_fn_t, c_void_p]),
    ("joule_options_set_cuda_sync", c_int, [c_void_p, c_int]),
    ("joule_options_set_keeper_interval_ms", c_int, [c_void_p, c_int]),
    ("joule_open", c_int, [c_void_p, POINTER(c_void_p)]),
    ("joule_close", None, [c_void_p]),
    ("joule_kind_name", c_char_p, [c_int]),
    ("joule_quality_name", c_char_p, [c_int]),
    ("joule_device_count", c_int, [c_void_p]),
    ("joule_device_at", c_void_p, [c_void_p, c_int]),
    ("joule_device_kind", c_int, [c_void_p]),
    ("joule_device_index", c_int, [c_void_p]),
    ("joule_device_name", c_char_p, [c_void_p]),
    ("joule_device_label", c_char_p, [c_void_p]),
    ("joule_device_backend", c_char_p, [c_void_p]),
    ("joule_device_uuid", c_char_p, [c_void_p]),
    ("joule_device_caps", c_uint32, [c_void_p]),
    ("joule_device_energy_resolution_uj", c_double, [c_void_p]),
    ("joule_device_update_period_us", c_double, [c_void_p]),
    ("joule_device_note", c_char_p, [c_void_p]),
    ("joule_device_energy_j", c_int,
     [c_void_p, c_int, POINTER(c_double), POINTER(c_int)]),
    ("joule_device_power_w", c_int, [c_void_p, c_int, POINTER(c_double)]),
    ("joule_window_begin", c_int, [c_void_p, c_char_p, c_uint]),
    ("joule_window_end", c_int,
     [c_void_p, c_char_p, c_uint, POINTER(c_void_p)]),
    ("joule_window_cancel", c_int, [c_void_p, c_char_p]),
    ("joule_window_open_count", c_int, [c_void_p]),
    ("joule_result_free", None, [c_void_p]),
    ("joule_result_name", c_char_p, [c_void_p]),
    ("joule_result_time_s", c_double, [c_void_p]),
    ("joule_result_start_unix_s", c_double, [c_void_p]),
    ("joule_result_device_count", c_int, [c_void_p]),
    ("joule_result_energy_j", c_double,
     [c_void_p, c_int, POINTER(c_int), POINTER(c_int)]),
    ("joule_result_total_j", c_double, [c_void_p, c_int]),
    ("joule_result_read", c_int,
     [c_void_p, POINTER(c_double), POINTER(c_int), POINTER(c_int), c_int]),
    ("joule_result_total_all_j", c_double, [c_void_p]),
    ("joule_result_read_uncertainty", c_int, [c_void_p, POINTER(c_double), c_int]),
    ("joule_options_set_edge_correction", c_int, [c_void_p, c_int]),
    ("joule_learn_timing", c_int, [c_void_p, c_double]),
    ("joule_sim_set_load", c_int, [c_void_p, c_int, c_double]),
    ("joule_sim_work_done", c_int, [c_void_p, c_int, POINTER(c_double)]),
]

# Declared when the library has them (features that landed after the
# measurement core); callers check has().
_OPTIONAL_PROTOTYPES = [
    ("joule_now_s", c_double, []),
    ("joule_domain_name", c_char_p, [c_int]),
    ("joule_sampler_create", c_int,
     [c_void_p, c_double, c_double, POINTER(c_void_p)]),
    ("joule_sampler_start", c_int, [c_void_p]),
    ("joule_sampler_stop", c_int, [c_void_p]),
    ("joule_sampler_destroy", None, [c_void_p]),
    ("joule_sampler_has", c_int, [c_void_p, c_int, c_int]),
    ("joule_sampler_timeline", c_int,
     [c_void_p, c_int, c_int, c_double, c_double, POINTER(c_double),
      POINTER(c_double), c_int]),
    ("joule_sampler_energy_j", c_int,
     [c_void_p, c_int, c_double, c_double, POINTER(c_double)]),
    ("joule_sampler_dropped", c_uint64, [c_void_p, c_int, c_int]),
]

# Window flags and enums from joule.h.
WINDOW_RESTART = 1 << 0
WINDOW_NO_SYNC = 1 << 1
LOG_CSV = 0
LOG_JSONL = 1
KIND_GPU, KIND_CPU, KIND_DRAM, KIND_PSYS, KIND_CORE, KIND_UNCORE = range(6)
QUALITY_NAMES = {0: "exact", 1: "approx", 2: "below_resolution", 3: "error"}


def _declare(lib):
    missing = []
    for name, restype, argtypes in _PROTOTYPES:
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    for name, restype, argtypes in _OPTIONAL_PROTOTYPES:
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = restype
            fn.argtypes = argtypes
    if missing:
        raise ImportError("joule: the loaded libjoule.so lacks %s; it is "
                          "older than this binding (rebuild it, or point "
                          "JOULE_LIBRARY at a current build)"
                          % ", ".join(missing))
    return lib


lib, path = load()
_declare(lib)


def has(symbol):
    """Whether the loaded library exports a function (for optional APIs)."""
    return hasattr(lib, symbol)


def decode(b):
    return b.decode("utf-8", "replace") if b is not None else ""


def last_error():
    return decode(lib.joule_last_error())


def check(rc):
    """Raises the exception for a negative return code (reads the message
    on this thread, right after the failing call)."""
    if rc < 0:
        from .errors import error_for  # errors imports this module
        raise error_for(rc, last_error())
    return rc
