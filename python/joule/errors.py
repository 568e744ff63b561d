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

# enum joule_error in include/joule/joule.h
JOULE_EINVAL = -1
JOULE_ENOMEM = -2
JOULE_ENODEV = -3
JOULE_EPERM = -4
JOULE_ENOTSUP = -5
JOULE_EIO = -6
JOULE_EEXIST = -7
JOULE_ENOENT = -8
JOULE_ERANGE = -9
JOULE_EGPULOST = -10
JOULE_ELIB = -11
JOULE_EBUSY = -12

CODE_NAMES = {
    0: "JOULE_OK",
    JOULE_EINVAL: "JOULE_EINVAL",
    JOULE_ENOMEM: "JOULE_ENOMEM",
    JOULE_ENODEV: "JOULE_ENODEV",
    JOULE_EPERM: "JOULE_EPERM",
    JOULE_ENOTSUP: "JOULE_ENOTSUP",
    JOULE_EIO: "JOULE_EIO",
    JOULE_EEXIST: "JOULE_EEXIST",
    JOULE_ENOENT: "JOULE_ENOENT",
    JOULE_ERANGE: "JOULE_ERANGE",
    JOULE_EGPULOST: "JOULE_EGPULOST",
    JOULE_ELIB: "JOULE_ELIB",
    JOULE_EBUSY: "JOULE_EBUSY",
}


class JouleError(RuntimeError):
    """An error reported by libjoule (or found by the binding first).

    ``str(err)`` is the library's message; ``err.code`` the negative
    ``JOULE_E*`` code and ``err.code_name`` its name (``"JOULE_ENODEV"``).
    """

    default_code = JOULE_EIO

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = self.default_code if code is None else code
        self.code_name = CODE_NAMES.get(self.code, "JOULE_E%d" % -self.code)


class InvalidArgumentError(JouleError, ValueError):
    """A bad argument: device spec, window name, option value."""

    default_code = JOULE_EINVAL


class NotFoundError(JouleError, ValueError):
    """Something named does not exist, e.g. no open window of that name."""

    default_code = JOULE_ENOENT


class AlreadyExistsError(JouleError, ValueError):
    """E.g. a window with that name is already open."""

    default_code = JOULE_EEXIST


class OutOfRangeError(JouleError, ValueError):
    """A value outside the allowed range (e.g. a power limit)."""

    default_code = JOULE_ERANGE


class DeviceNotFoundError(JouleError):
    """The device spec names a device that is absent, or selects nothing."""

    default_code = JOULE_ENODEV


class PermissionDeniedError(JouleError, PermissionError):
    """The operation needs privileges (e.g. RAPL counters, power limits)."""

    default_code = JOULE_EPERM


class NotSupportedError(JouleError):
    """The device cannot do this."""

    default_code = JOULE_ENOTSUP


class GPULostError(JouleError):
    """A GPU fell off the bus."""

    default_code = JOULE_EGPULOST


class OutOfMemoryError(JouleError, MemoryError):
    default_code = JOULE_ENOMEM


_BY_CODE = {
    JOULE_EINVAL: InvalidArgumentError,
    JOULE_ENOENT: NotFoundError,
    JOULE_EEXIST: AlreadyExistsError,
    JOULE_ERANGE: OutOfRangeError,
    JOULE_ENODEV: DeviceNotFoundError,
    JOULE_EPERM: PermissionDeniedError,
    JOULE_ENOTSUP: NotSupportedError,
    JOULE_EGPULOST: GPULostError,
    JOULE_ENOMEM: OutOfMemoryError,
}


def error_for(code, message):
    """The exception for a negative library code and its message."""
    cls = _BY_CODE.get(code, JouleError)
    return cls(message, code)
