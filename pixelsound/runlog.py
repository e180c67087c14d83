"""What a training run reports as it goes: the progress bar, ``log.csv`` and TensorBoard events.

* :class:`ProgressBar` -- one tqdm bar over the whole run's batches; with ``train.max_minutes`` its length is
  what the time will allow (:func:`planned_batches`);
* ``log.csv`` (:data:`CSV_FIELDS`) -- started by :func:`csv_start` (a resumed run keeps the rows up to its
  checkpoint's step), a row appended by :func:`csv_row` every ``train.log_every`` steps and at each epoch's
  end;
* :func:`tensorboard_writer` -- a SummaryWriter in ``tb/`` when tensorboard is installed.

Only the main process reports (:mod:`pixelsound.distrib`).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pixelsound.atomic import write_text_atomic

log = logging.getLogger(__name__)

CSV_NAME = "log.csv"
CSV_FIELDS = ["step", "epoch", "minutes", "loss", "lr", "val_sdr", "val_sdr_mix", "contrast", "monitor_sdr"]


def csv_start(path: Path, resume_step: int | None) -> None:
    """Start ``log.csv``; on resume keep the rows up to the checkpoint's step (the later ones are redone)."""
    rows = []
    if resume_step is not None and path.exists():
        with path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if (r.get("step") or "").isdigit()]
    text = io.StringIO()
    writer = csv.DictWriter(text, CSV_FIELDS)
    writer.writeheader()
    writer.writerows(
        {k: r.get(k, "") for k in CSV_FIELDS} for r in rows if int(r["step"]) <= (resume_step or 0)
    )
    write_text_atomic(text.getvalue(), path)


def csv_row(path: Path, **row: Any) -> None:
    """Append one row to ``log.csv`` (missing fields stay empty)."""
    with path.open("a", newline="") as f:
        csv.DictWriter(f, CSV_FIELDS).writerow({k: _fmt(row.get(k, "")) for k in CSV_FIELDS})


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def tensorboard_writer(out: Path, purge_step: int | None) -> Any:
    """A TensorBoard SummaryWriter in ``out/tb``, or None (one log line) when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # optional (the dev extra)
    except ImportError:
        log.info("tensorboard is not installed; writing log.csv only")
        return None
    return SummaryWriter(str(out / "tb"), purge_step=purge_step)


def planned_batches(done: int, total: int, minutes: float, max_minutes: float, rate: float) -> int:
    """How many batches the run will do in all: the recipe's epochs, or fewer when ``max_minutes`` ends it
    first (estimated from the batches per minute so far; the recipe's count until a rate is known).

    >>> planned_batches(done=100, total=1000, minutes=10.0, max_minutes=20.0, rate=10.0)
    200
    """
    if max_minutes <= 0 or rate <= 0:
        return total
    return max(done, min(total, done + math.ceil(rate * max(0.0, max_minutes - minutes))))


class ProgressBar:
    """One bar for the whole run, over batches; its length is what the run will really do.

    Args:
        done: batches done before this session (a resumed run starts there).
        total: batches of all the recipe's epochs.
        max_minutes: ``train.max_minutes`` (0: no time limit).
        enabled: show it (the main process only).
    """

    def __init__(self, done: int, total: int, max_minutes: float, *, enabled: bool = True) -> None:
        self.session = (time.monotonic(), done)  # (time, batches) when this session started
        self.total, self.max_minutes = total, max_minutes
        limit = f" (at most {max_minutes:g} min)" if max_minutes > 0 else ""
        self.bar = tqdm(
            total=total,
            initial=done,
            desc=f"train{limit}",
            unit="batch",
            disable=not enabled,
            mininterval=1.0,
        )

    def __enter__(self) -> ProgressBar:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def advance(self, done: int, minutes: float) -> None:
        """One batch more (``done`` in all, after ``minutes`` of training); with a time limit, the bar is
        shortened to the batches the time will allow."""
        since, first = self.session
        rate = (done - first) / max((time.monotonic() - since) / 60, 1e-9)  # batches per minute
        total = planned_batches(done, self.total, minutes, self.max_minutes, rate)
        if total != self.bar.total:
            self.bar.total = total
        self.bar.update(1)

    def set_postfix(self, **values: str) -> None:
        """Show these values after the bar (epoch, loss, learning rate)."""
        self.bar.set_postfix(**values)
