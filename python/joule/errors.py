"""Exceptions raised by the joule binding.

Every error from libjoule becomes an instance of a :class:`JouleError`
subclass that carries the library's own message (which names the cause and
the fix), the negative ``code`` and its constant name (``code_name``).
Subclasses also derive from the matching built-in exception, so callers can
catch either ``joule.JouleError`` or the usual ``ValueError`` /
``PermissionError``:

===================  ==================================  ====================
library code         exception                           also a
===================  ==================================  ====================
``JOULE_EINVAL``     :class:`InvalidArgumentError`       ``ValueError``
``JOULE_ENOENT``     :class:`NotFoundError`              ``ValueError``
``JOULE_EEXIST``     :class:`AlreadyExistsError`         ``ValueError``
``JOULE_ERANGE``     :class:`OutOfRangeError`            ``ValueError``
``JOULE_ENODEV``     :class:`DeviceNotFoundError`        ``RuntimeError``
``JOULE_EPERM``      :class:`PermissionDeniedError`      ``PermissionError``
``JOULE_ENOTSUP``    :class:`NotSupportedError`          ``RuntimeError``
``JOULE_EGPULOST``   :class:`GPULostError`               ``RuntimeError``
``JOULE_ENOMEM``     :class:`OutOfMemoryError`           ``MemoryError``
others               :class:`JouleError`                 ``RuntimeError``
===================  ==================================  ====================

Wrong Python types raise a plain ``TypeError`` before the library is called.
"""

__all__ = [
    "JouleError",
    "InvalidArgumentError",
    "NotFoundError",
    "AlreadyExistsError",
    "OutOfRangeError",
    "DeviceNotFoundError",
    "PermissionDeniedError",
    "NotSupportedError",
    "GPULostError",
    "OutOfMemoryError",
]

from ._lib import decode, lib

# The codes come from the library (JOULE_ERROR_LIST in joule.h, through
# joule_error_name), so this module never lists them again: CODES maps
# "EINVAL" to -1, and each code is also a module constant (JOULE_EINVAL).
# Codes are 0 and small negatives; a wide scan stays cheap and tolerates a gap.
CODES = {}
for _code in range(0, -256, -1):
    _name = lib.joule_error_name(_code)
    if _name is not None:
        CODES[decode(_name)] = _code
CODE_NAMES = {code: "JOULE_" + name for name, code in CODES.items()}
globals().update({"JOULE_" + name: code for name, code in CODES.items()})
del _code, _name


class JouleError(RuntimeError):
    """An error reported by libjoule (or found by the binding first).

    ``str(err)`` is the library's message; ``err.code`` the negative
    ``JOULE_E*`` code and ``err.code_name`` its name (``"JOULE_ENODEV"``).
    """

    default_code = CODES["EIO"]

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is None else code
        self.code_name = CODE_NAMES.get(self.code, "JOULE_E%d" % -self.code)


class InvalidArgumentError(JouleError, ValueError):
    """A bad argument: device spec, window name, option value."""

    default_code = CODES["EINVAL"]


class NotFoundError(JouleError, ValueError):
    """Something named does not exist, e.g. no open window of that name."""

    default_code = CODES["ENOENT"]


class AlreadyExistsError(JouleError, ValueError):
    """E.g. a window with that name is already open."""

    default_code = CODES["EEXIST"]


class OutOfRangeError(JouleError, ValueError):
    """A value outside the allowed range (e.g. a power limit)."""

    default_code = CODES["ERANGE"]


class DeviceNotFoundError(JouleError):
    """The device spec names a device that is absent, or selects nothing."""

    default_code = CODES["ENODEV"]


class PermissionDeniedError(JouleError, PermissionError):
    """The operation needs privileges (e.g. RAPL counters, power limits)."""

    default_code = CODES["EPERM"]


class NotSupportedError(JouleError):
    """The device cannot do this."""

    default_code = CODES["ENOTSUP"]


class GPULostError(JouleError):
    """A GPU fell off the bus."""

    default_code = CODES["EGPULOST"]


class OutOfMemoryError(JouleError, MemoryError):
    default_code = CODES["ENOMEM"]


# Classes by code name; a code not named here (EIO, ELIB, EBUSY, any
# newer one) raises a plain JouleError.
_BY_NAME = {
    "EINVAL": InvalidArgumentError,
    "ENOENT": NotFoundError,
    "EEXIST": AlreadyExistsError,
    "ERANGE": OutOfRangeError,
    "ENODEV": DeviceNotFoundError,
    "EPERM": PermissionDeniedError,
    "ENOTSUP": NotSupportedError,
    "EGPULOST": GPULostError,
    "ENOMEM": OutOfMemoryError,
}
_BY_CODE = {CODES[name]: cls for name, cls in _BY_NAME.items()}


def error_for(code, message):
    """The exception for a negative library code and its message."""
    cls = _BY_CODE.get(code, JouleError)
    return cls(message, code)
