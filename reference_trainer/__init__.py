"""Reference ProGAN trainer, faithful to the official code (tkarras/progressive_growing_of_gans).

Each module follows one official file: `layers` and `networks` follow networks.py, `loss`
follows loss.py, `schedule` follows train.py's TrainingSchedule, `dataset` follows
dataset_tool.py and dataset.py, `train` follows train.py's train_progressive_gan, and
`presets` follows config.py.  README.md in this folder lists every constant and deviation.
The loop is ``from reference_trainer.train import train``.
"""
from importlib import import_module
from typing import Any

_EXPORTS = {"G_paper": "networks", "D_paper": "networks", "TrainingSchedule": "schedule",
            "training_schedule": "schedule", "make_config": "presets"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m reference_trainer.dataset` does not import the module twice.
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
