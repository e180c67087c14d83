"""The training state in ``last.pt``, and how a run resumes from it exactly where it stopped.

:func:`save_state` writes, atomically (:func:`pixelsound.checkpoint.save_checkpoint`), the model's weights,
the optimizer's state, the config, where the run stands (:class:`Progress`: step, epoch, batches done in the
epoch, minutes, validation SDRs) and every random state (python, numpy, torch and the gains' generator).
:func:`restore_state` loads it back into a freshly built run: the model config must match the recipe's,
changed data or training settings are named in a warning.

Exact resume: the groups of an epoch are a pure function of (seed, epoch), the gains come from a generator
saved here with every other random state, the DataLoader draws its worker seeds from its own per-epoch
generator (never the global one), and the checkpoint records how many batches of the epoch were done; so a
run killed at any point and resumed from its last checkpoint computes the same steps as one that never
stopped. The data set's random windows must not depend on process-local state either: each request carries
a key (epoch, position of the draw in the epoch) and a data set offering ``draw(i, key)`` draws the window
from it (:class:`pixelsound.mixing.MixtureItems`); one without it is exact only as far as its own randomness
allows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pixelsound.checkpoint import (
    CheckpointError,
    check_state_dict,
    config_from,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from pixelsound.config import Config

log = logging.getLogger(__name__)

LAST = "last.pt"
PROGRESS_FIELDS = ("step", "epoch", "batch", "minutes", "val_sdr", "best_sdr")


@dataclass
class Progress:
    """Where training stands; saved in the checkpoint."""

    step: int = 0
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    minutes: float = 0.0
    val_sdr: float = math.nan
    best_sdr: float = -math.inf


def save_state(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    cfg: Config,
    p: Progress,
    gains: torch.Generator,
) -> None:
    """Write ``last.pt`` atomically: weights, optimizer, config, progress and every random state."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "config": cfg.to_dict(),
        **{k: getattr(p, k) for k in PROGRESS_FIELDS},
        "rng": rng_state({"gains": gains}),
    }
    save_checkpoint(path, state)


def restore_state(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, cfg: Config, gains: torch.Generator
) -> Progress:
    """Load ``last.pt`` into the model, optimizer and random states; the model config must match."""
    state = load_checkpoint(path)
    saved = config_from(state["config"], path)
    for section in ("audio", "frames", "model"):
        if getattr(saved, section) != getattr(cfg, section):
            raise CheckpointError(f"{path}: its [{section}] differs from the recipe's; cannot resume")
    changed = [
        f"{section}.{key}"
        for section in ("data", "train")
        for key, value in getattr(saved, section).__dict__.items()
        if getattr(getattr(cfg, section), key) != value
    ]
    if changed:
        log.warning("%s: resuming with changed %s (the run may not repeat exactly)", path, ", ".join(changed))
    check_state_dict(model, state["model"], path)
    model.load_state_dict(state["model"])
    try:
        optimizer.load_state_dict(state["optimizer"])
    except ValueError as err:
        raise CheckpointError(f"{path}: optimizer state does not fit train.optimizer: {err}") from None
    set_rng_state(state["rng"], {"gains": gains})
    return Progress(**{k: state[k] for k in PROGRESS_FIELDS})
