"""Synchronizing asynchronous GPU work at window edges.

A window's edges must come after the work queued before them has run, or a
window around a CUDA kernel launch measures only the launch. libjoule calls
a sync hook at both edges of every window (unless the edge passes
``sync=False``), on the thread that begins or ends the window, before it
reads the counters. ``Monitor(sync=...)`` chooses the hook:

``"auto"`` (default)
    If ``torch`` has been imported and ``torch.cuda.is_available()``,
    ``torch.cuda.synchronize(i)`` for every monitored real GPU ``i``;
    otherwise nothing. Checked at each edge, so importing torch after the
    monitor was made is fine.
``"torch"``, ``"jax"``, ``"cupy"``
    That framework (imported when the monitor is made; ImportError if it
    cannot be). torch: as above. jax: ``jax.effects_barrier()``, or where
    that is missing a ``block_until_ready()`` on each GPU. cupy:
    ``cupy.cuda.Device(i).synchronize()`` per monitored GPU.
``"cuda"``
    libjoule's built-in CUDA sync (dlopens libcudart, no Python in the loop).
``None`` / ``False``
    No sync.
any callable
    Called with no arguments at each synced edge.

GPU indices are joule's, which follow ``CUDA_VISIBLE_DEVICES`` like CUDA
does; simulated GPUs are never synchronized (they are not CUDA devices).
"""

import importlib
import sys

FRAMEWORKS = ("torch", "jax", "cupy")


def _torch_sync(torch, gpus):
    cuda = torch.cuda
    if not cuda.is_available():
        return
    count = cuda.device_count()
    for i in gpus:
        if i < count:
            cuda.synchronize(i)


def _jax_sync(jax, gpus):
    barrier = getattr(jax, "effects_barrier", None)
    if barrier is not None:
        barrier()
        return
    try:
        devices = jax.devices("gpu")
    except RuntimeError:  # no GPU backend
        return
    for i in gpus:
        if i < len(devices):
            jax.device_put(0.0, device=devices[i]).block_until_ready()


def _cupy_sync(cupy, gpus):
    count = cupy.cuda.runtime.getDeviceCount()
    for i in gpus:
        if i < count:
            cupy.cuda.Device(i).synchronize()


_SYNCS = {"torch": _torch_sync, "jax": _jax_sync, "cupy": _cupy_sync}


def resolve(sync, gpus):
    """Returns (python_fn or None, use_builtin_cuda_sync) for a sync choice.

    gpus: indices of the monitored real (CUDA-visible) GPUs.
    """
    gpus = list(gpus)
    if sync is None or sync is False:
        return None, False
    if isinstance(sync, str):
        if sync == "auto":
            return _auto(gpus), False
        if sync == "cuda":
            return None, True
        if sync in _SYNCS:
            try:
                mod = importlib.import_module(sync)
            except ImportError as e:
                raise ImportError("joule: sync=%r needs %s, which cannot be "
                                  "imported (%s)" % (sync, sync, e)) from e
            impl = _SYNCS[sync]
            return (lambda: impl(mod, gpus)), False
        raise ValueError("joule: unknown sync %r; use 'auto', 'torch', 'jax', "
                         "'cupy', 'cuda', None or a callable" % (sync,))
    if sync is True:
        return _auto(gpus), False
    if callable(sync):
        return sync, False
    raise TypeError("joule: sync must be a string, None or a callable, not %s"
                    % type(sync).__name__)


def _auto(gpus):
    if not gpus:
        return None  # only simulated GPUs or none: nothing to wait for
    state = {"fn": None}

    def auto():
        fn = state["fn"]
        if fn is None:
            torch = sys.modules.get("torch")
            if torch is None:
                return  # torch not imported (yet): nothing queued through it
            if not torch.cuda.is_available():
                state["fn"] = lambda: None
                return
            fn = state["fn"] = lambda: _torch_sync(torch, gpus)
        fn()

    return auto
