"""Placeholder for the power-limit optimizer, whose C side has not landed.

``PowerLimitOptimizer`` needs libjoule's power-limit optimizer
(``joule_plo_*``). Until the loaded libjoule.so exports it, making one
raises NotImplementedError that names what is missing; nothing is emulated
in Python, so no numbers are invented. The Hugging Face TrainerCallback
arrives with it.
"""

from . import _lib

__all__ = ["PowerLimitOptimizer"]


def _missing(feature, symbol):
    return NotImplementedError(
        "joule.%s needs libjoule's %s, which this libjoule.so (%s) does not "
        "export yet (no %s). It arrives with the %s issue."
        % (feature[0], feature[1], _lib.path, symbol, feature[2]))


class PowerLimitOptimizer:
    """Tunes the GPU power limit during training (not yet in the C
    library)."""

    def __init__(self, monitor, selector=None, warmup_steps=10,
                 profile_steps=40, pl_step=25):
        raise _missing(("PowerLimitOptimizer", "power-limit optimizer",
                        "power-limit"), "joule_plo_create")
