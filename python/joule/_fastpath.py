"""Finding joule._fast (the window hot path in C) and binding it.

``joule.Monitor`` begins and ends windows through ``joule._fast`` when it
loads, and through ctypes otherwise; both give the same Measurements and
exceptions. The module links no libjoule: ``bind`` hands it the addresses
of the functions in the library ctypes loaded (``joule._lib``), so both
paths always use the same library and contexts.

Lookup order:

1. ``$JOULE_FAST``: ``0`` (or ``off``) turns the C path off; a path to the
   module is the only place tried, and a module that does not load is an
   ImportError (as with ``$JOULE_LIBRARY``).
2. ``joule._fast`` beside the package (a wheel, ``make install``).
3. The checkout's build directory, ``<repo>/build/python/joule/``, for
   ``PYTHONPATH=python``.

``load()`` returns the bound module, or None (ctypes path).
"""

import ctypes
import importlib.machinery
import importlib.util
import os

from . import _lib
from .errors import InvalidArgumentError, error_for

FUNCTIONS = ("joule_window_begin", "joule_window_end", "joule_window_cancel",
             "joule_result_free",
             "joule_result_time_s", "joule_result_start_unix_s",
             "joule_result_read", "joule_result_read_uncertainty",
             "joule_result_total_all_j", "joule_last_error", "joule_strerror",
             "joule_sampler_timeline", "joule_sampler_energy_j")

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _from_file(path):
    spec = importlib.util.spec_from_file_location("joule._fast", path)
    if spec is None:
        raise ImportError("joule: %s is not a Python extension module" % path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _find():
    env = os.environ.get("JOULE_FAST")
    if env is not None and env.strip().lower() in ("0", "off", "no", "false", ""):
        return None
    if env:
        try:
            return _from_file(env)
        except (ImportError, OSError) as e:
            raise ImportError("joule: JOULE_FAST=%s does not load: %s" % (env, e)) from e
    try:
        from . import _fast  # noqa: F401 - beside the package
        return _fast
    except ImportError:
        pass
    build = os.path.join(os.path.dirname(os.path.dirname(_PKG_DIR)),
                         "build", "python", "joule")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(build, "_fast" + suffix)
        if os.path.exists(path):
            try:
                return _from_file(path)
            except ImportError:
                return None  # another interpreter's build
    return None


def _closed_error():
    return InvalidArgumentError("joule: the monitor is closed")


def load(measurement_cls):
    """The bound joule._fast, or None when the ctypes path is used."""
    mod = _find()
    if mod is None:
        return None
    addresses = {name: ctypes.cast(getattr(_lib.lib, name), ctypes.c_void_p).value
                 for name in FUNCTIONS}
    names = tuple(_lib.QUALITY_NAMES[i] for i in range(len(_lib.QUALITY_NAMES)))
    mod.bind(addresses, error_for, measurement_cls, names, _closed_error)
    return mod
