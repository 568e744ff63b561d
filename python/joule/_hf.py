"""Hugging Face callbacks built on ``transformers.TrainerCallback`` on
first use, so ``import joule`` never imports transformers (seconds, and
torch with it). ``HFPowerLimitCallback`` and ``HFBatchSizeCallback`` are
both made this way."""

import sys
import threading

_classes = {}
_lock = threading.Lock()


def callback_class(make):
    """``make(TrainerCallback)`` for the ``transformers`` now importable,
    built once per maker and TrainerCallback class. Raises ImportError
    without transformers."""
    mod = sys.modules.get("transformers")
    base = getattr(mod, "TrainerCallback", None) if mod is not None else None
    if base is None:
        from transformers import TrainerCallback as base  # may raise
    with _lock:
        cls = _classes.get((make, base))
        if cls is None:
            cls = _classes[(make, base)] = make(base)
        return cls
