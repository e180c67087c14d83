"""`pixelsound train RECIPE`: mix-and-separate training in one readable loop.

One concern, the training loop, hence one module of about 500 lines: a run's set-up (device, seeds, config
checks, data) and its loop. The optimizer and its schedule are :mod:`pixelsound.optim`, the validation
mixtures and their SDR :mod:`pixelsound.validation`, stopping on signals :mod:`pixelsound.stopping`, what is
saved for resuming :mod:`pixelsound.resume`, what a run reports as it goes :mod:`pixelsound.runlog`.

:func:`train` builds the pieces (model, optimizer, solo-clip data, fixed validation mixtures), restores
``last.pt`` when resuming, then loops: groups of N clips from different videos (:mod:`pixelsound.mixing`)
-> random gain per source -> :func:`pixelsound.losses.mix_and_separate_loss` -> optimizer step. After each
epoch, and when it stops early (``train.max_minutes``, SIGTERM, Ctrl-C), it measures the validation SDR,
writes ``last.pt`` and, when the SDR improved, the ``best/`` release.

Files in ``train.out_dir``:

    last.pt     training state (:func:`pixelsound.checkpoint.load_checkpoint`): every epoch, every
                ``train.save_every`` steps, every ``train.save_every_minutes`` and on stop (end,
                ``train.max_minutes``, SIGTERM, Ctrl-C: saved before validating, so a second Ctrl-C loses
                nothing)
    best/       released model (``model.safetensors`` + ``config.json``) with the best validation SDR
                (without a validation index: the latest epoch)
    log.csv     step, epoch, minutes, loss, lr, val_sdr, val_sdr_mix (the mixture itself, the lower bound)
    tb/         TensorBoard events, when tensorboard is installed

Exact resume (a run killed at any point and resumed computes the same steps as one that never stopped):
:mod:`pixelsound.resume`. The progress bar, ``log.csv`` and TensorBoard: :mod:`pixelsound.runlog`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pixelsound import distrib
from pixelsound.checkpoint import load_init_weights, write_release
from pixelsound.config import Config, ConfigError, add_overrides_argument, load_config, replace
from pixelsound.dataset import ClipDataset
from pixelsound.errors import TrainError
from pixelsound.losses import mix_and_separate_loss
from pixelsound.mixing import (
    MixtureBatchSampler,
    MixtureItems,
    collate_mixtures,
    draw_gains,
    item_labels,
)
from pixelsound.model import SoundOfPixels
from pixelsound.optim import build_optimizer, lr_factor, set_lr
from pixelsound.precision import use_bf16
from pixelsound.resume import LAST, Progress, restore_state, save_state
from pixelsound.runlog import CSV_NAME, ProgressBar, csv_row, csv_start, tensorboard_writer
from pixelsound.stopping import StopSignals
from pixelsound.validation import held_out_set, validate, validation_batches
from pixelsound.views import Views, appearance, compose_scene, draw_views, silence_pool

log = logging.getLogger(__name__)

BEST = "best"
MAX_SKIPPED = 20  # consecutive unusable batches before giving up
SILENCE_POOL = 512  # background textures drawn once for silent scene strips


@dataclass(frozen=True)
class TrainResult:
    """What a training run did.

    Attributes:
        out_dir: the run's folder.
        step: optimizer steps done in total.
        epoch: epochs completed.
        minutes: training time in total (resumed runs included).
        stopped: ``"done"`` (all epochs), ``"time"`` (``max_minutes``) or ``"signal"`` (SIGTERM / Ctrl-C).
        val_sdr: the last validation SDR in dB (NaN if none was measured).
        best_sdr: the best validation SDR in dB (-inf if none).
        checkpoint: ``last.pt``.
        release: the ``best/`` release folder, or None when none was written.
        signal: the signal that stopped the run (``signal.SIGTERM`` or ``signal.SIGINT``), else 0.
    """

    out_dir: Path
    step: int
    epoch: int
    minutes: float
    stopped: str
    val_sdr: float
    best_sdr: float
    checkpoint: Path
    release: Path | None
    signal: int = 0


# ------------------------------------------------------------------------------------ building blocks


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> this process's GPU when there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError(
            f"train.device = {name!r}: no CUDA GPU is available on this machine; use 'cpu' or 'auto'"
        )
    return torch.device("cuda", local_rank) if name == "cuda" else torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (the checkpoint saves and restores all three)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_train_config(cfg: Config) -> None:
    """Fail early, with the key's name, on values the loop would only trip over later."""
    t = cfg.train
    checks = [
        (
            t.optimizer in ("sgd", "adam", "adamw"),
            f"train.optimizer: {t.optimizer!r} (known: sgd, adam, adamw)",
        ),
        (t.schedule in ("constant", "cosine"), f"train.schedule: {t.schedule!r} (known: constant, cosine)"),
        (t.batch_size >= 1, f"train.batch_size: must be at least 1, got {t.batch_size}"),
        (2 <= cfg.data.num_mix <= 4, f"data.num_mix: must be 2, 3 or 4, got {cfg.data.num_mix}"),
        (cfg.data.gain_min <= cfg.data.gain_max, "data.gain_min: must not exceed data.gain_max"),
        (0 <= cfg.data.timbre <= 1, f"data.timbre: must be in [0, 1], got {cfg.data.timbre}"),
        (0 <= t.scene_prob <= 1, f"train.scene_prob: must be in [0, 1], got {t.scene_prob}"),
        (0 <= t.mixstyle <= 1, f"train.mixstyle: must be in [0, 1], got {t.mixstyle}"),
        (
            t.mixstyle == 0 or cfg.model.frame_net == "resnet18",
            f"train.mixstyle: needs the resnet18 frame net, got {cfg.model.frame_net!r}",
        ),
        (not t.scene_silence or t.scene_prob > 0, "train.scene_silence: needs train.scene_prob > 0"),
        (not t.scene_decoys or t.scene_silence, "train.scene_decoys: needs train.scene_silence"),
        (cfg.model.contrast >= 0, f"model.contrast: must not be negative, got {cfg.model.contrast}"),
        (0 <= cfg.model.pool_top <= 1, f"model.pool_top: must be in [0, 1], got {cfg.model.pool_top}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def build_datasets(cfg: Config) -> tuple[Dataset, Dataset | None]:
    """The training clips (random windows) and the validation clips (fixed windows; None without an index)."""
    if not cfg.data.train_index:
        raise ConfigError("data.train_index is empty: name the JSON-lines index of the training clips")
    cache = cfg.data.cache_dir or None
    train_set = ClipDataset(
        cfg.data.train_index,
        cfg.audio,
        cfg.frames,
        train=True,
        seed=cfg.train.seed,
        cache_dir=cache,
        memory_items=cfg.data.memory_items,
        colour=cfg.data.colour,
        timbre=cfg.data.timbre,
    )
    return train_set, held_out_set(cfg.data.val_index, cfg, train_set.categories)


def make_loader(
    dataset: Dataset, sampler: MixtureBatchSampler, cfg: Config, device: torch.device
) -> DataLoader:
    """A DataLoader of mixture batches; worker seeds depend only on (seed, epoch), never on global RNG."""
    generator = torch.Generator().manual_seed(cfg.train.seed * 1_000_003 + sampler.epoch)
    return DataLoader(
        MixtureItems(dataset),
        batch_sampler=sampler,
        collate_fn=partial(collate_mixtures, num_mix=cfg.data.num_mix),
        num_workers=cfg.data.workers,
        generator=generator,
        pin_memory=device.type == "cuda",
    )


# ------------------------------------------------------------------------------------ the loop


def train_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    gains: torch.Tensor,
    cfg: Config,
    device: torch.device,
    views: Views | None = None,
    filler: torch.Tensor | None = None,
) -> dict[str, float] | None:
    """One optimizer step on a batch of groups; None (nothing changed) when the loss is not finite.

    Args:
        gains: this process's gains for every group of the batch before bad groups were dropped, ``(B, N)``.
        views: this process's view choices for the same groups (``train.augment``, ``train.scene_prob``).
        filler: textures for the silent scene region (``train.scene_silence``), uint8 ``(P, 3, S, S)``.
    """
    gains = gains[batch["group"]].to(device)  # (B, N) of the groups kept
    sources = batch["sources"].to(device, non_blocking=True) * gains[..., None]  # (B, N, L)
    frames = batch["frames"].to(device, non_blocking=True)  # (B, N, V, 3, H, W) uint8
    regions = None
    if views is not None:
        views = views.rows(batch["group"])
        if cfg.train.augment:
            frames = appearance(frames, views, cfg.train.augment_world, filler)
        if views.scene:
            frames, regions = compose_scene(frames, views, filler, cfg.train.scene_decoys)  # (B, V, 3, H, W)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16(cfg.train.bf16, device)):
        loss, stats = mix_and_separate_loss(net, sources, frames, regions)
    if not distrib.all_true(bool(torch.isfinite(loss))):
        log.warning("loss is not finite on some process; skipping this batch")
        return None
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.train.grad_clip > 0:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        stats["grad_norm"] = float(nn.utils.clip_grad_norm_(params, cfg.train.grad_clip))
    optimizer.step()
    return stats


def train(cfg: Config, resume: bool = False, init: str | Path | None = None) -> TrainResult:
    """Train a SoundOfPixels model by mix-and-separate; see the module docstring for the files written.

    Args:
        cfg: the full config; ``cfg.train.out_dir`` is the run's folder.
        resume: continue from ``out_dir/last.pt`` when it exists (exactly where it stopped).
        init: start from this release's weights (``train --init``; its audio, frames and model settings must
            match ``cfg``'s, see :func:`pixelsound.checkpoint.load_init_weights`); a resumed run takes its
            weights from ``last.pt`` instead.

    Returns:
        :class:`TrainResult`.
    """
    t, out = cfg.train, Path(cfg.train.out_dir)
    check_train_config(cfg)
    device = pick_device(t.device, int(os.environ.get("LOCAL_RANK", "0")))
    info = distrib.init(device.type)
    if (out / LAST).exists() and not resume:
        raise TrainError(f"{out / LAST} exists: pass --resume to continue that run, or choose another --out")
    seed_everything(t.seed)
    model = SoundOfPixels(cfg).to(device)
    if init is not None:
        start = load_init_weights(model, init, cfg).model
        grown = (start.unet_channels, start.frame_width) != (cfg.model.unet_channels, cfg.model.frame_width)
        log.info("starting from the weights of %s%s", init, " (widened, same output)" if grown else "")
    if t.freeze_frame:
        model.freeze_frame_net()
    net = distrib.wrap(model, device)  # DDP and synchronized BatchNorm with several processes, else model
    optimizer = build_optimizer(model, t)
    train_set, val_set = build_datasets(cfg)
    labels = item_labels(train_set)
    sampler = MixtureBatchSampler(
        *labels,
        batch_size=t.batch_size,
        num_mix=cfg.data.num_mix,
        seed=t.seed,
        steps_per_epoch=t.steps_per_epoch,
        rank=info.rank,
        world_size=info.world_size,
    )
    val_batches = validation_batches(val_set, cfg) if info.is_main else []
    monitor_set = held_out_set(cfg.data.monitor_index, cfg, train_set.categories) if info.is_main else None
    monitor_batches = validation_batches(monitor_set, cfg, cfg.data.monitor_index)
    gains = torch.Generator().manual_seed(t.seed)
    p = Progress()
    if resume and (out / LAST).exists():  # last: random states are restored after all set-up
        p = restore_state(out / LAST, model, optimizer, cfg, gains)
        log.info("resuming %s at epoch %d, batch %d (step %d)", out / LAST, p.epoch, p.batch, p.step)
    held = (val_batches, monitor_batches)
    run = _Run(cfg, info, device, out, model, net, optimizer, sampler, gains, p, held, resume)
    return run.loop(train_set)


class _Run:
    """The state of one training run, so the loop below reads top to bottom without long argument lists."""

    def __init__(
        self,
        cfg: Config,
        info: distrib.DistInfo,
        device: torch.device,
        out: Path,
        model: nn.Module,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        sampler: MixtureBatchSampler,
        gains: torch.Generator,
        p: Progress,
        held: tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]]],
        resume: bool,
    ) -> None:
        self.cfg, self.info, self.device, self.out = cfg, info, device, out
        self.model, self.net, self.optimizer, self.sampler = model, net, optimizer, sampler
        self.gains, self.p = gains, p
        # validation mixtures (pick best/) and monitored ones (only logged each epoch, e.g. the far split)
        self.val_batches, self.monitor_batches = held
        self.total_steps = cfg.train.epochs * sampler.num_batches
        self.filler = (
            silence_pool(cfg.train.seed, SILENCE_POOL, cfg.frames.size) if cfg.train.scene_silence else None
        )
        self.released: Path | None = (out / BEST) if (out / BEST).exists() else None
        self.csv = out / CSV_NAME
        self.consistent = True  # model and optimizer agree with the progress counters
        self.saved_at = time.monotonic()  # when last.pt was last written (train.save_every_minutes)
        self.writer = None
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            csv_start(self.csv, p.step if resume else None)
            self.writer = tensorboard_writer(out, p.step if resume else None)

    def loop(self, train_set: Dataset) -> TrainResult:
        """Epochs of steps until ``train.epochs`` are done, ``train.max_minutes`` pass, or a stop signal."""
        p = self.p
        self.started = time.monotonic() - 60 * p.minutes
        self.bar = ProgressBar(
            p.epoch * self.sampler.num_batches + p.batch,
            self.cfg.train.epochs * self.sampler.num_batches,
            self.cfg.train.max_minutes,
            enabled=self.info.is_main,
        )
        stopped = "done"
        with StopSignals(busy=lambda: not self.consistent) as signals, self.bar:
            try:
                while p.epoch < self.cfg.train.epochs and stopped == "done":
                    stopped, losses = self._epoch(train_set, signals)
                    if stopped == "done":
                        p.epoch, p.batch = p.epoch + 1, 0
                    if stopped == "signal":
                        self._save()  # the state first: a second Ctrl-C during validation loses nothing
                    self._end_epoch(losses)
            except KeyboardInterrupt:
                if self.consistent:
                    self._save()
                raise
        distrib.barrier()
        if self.writer is not None:
            self.writer.close()
        return TrainResult(
            self.out,
            p.step,
            p.epoch,
            p.minutes,
            stopped,
            p.val_sdr,
            p.best_sdr,
            self.out / LAST,
            self.released,
            signals.received or 0,
        )

    def _epoch(self, train_set: Dataset, signals: StopSignals) -> tuple[str, list[float]]:
        """The rest of the current epoch; returns ``"done"``, ``"time"`` or ``"signal"`` and the losses."""
        cfg, t, p = self.cfg, self.cfg.train, self.p
        self.sampler.set_epoch(p.epoch, p.batch)
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(p.epoch)
        loader = make_loader(train_set, self.sampler, cfg, self.device)
        losses: list[float] = []
        skipped = 0
        for batch in loader:
            # the gains of the whole global batch, drawn even when the batch is skipped, so the random stream
            # depends neither on bad items nor on the number of processes
            B, world = t.batch_size, self.info.world_size
            gains = draw_gains(self.gains, B * world, cfg.data.num_mix, cfg.data.gain_min, cfg.data.gain_max)
            lr = set_lr(self.optimizer, t, lr_factor(p.step, self.total_steps, t))
            stats = None
            if distrib.all_true(batch is not None):
                self.consistent = False  # an interrupt now may leave the optimizer half-way
                local = self.info.local_rows(B)
                views = self._views(B * world).rows(local) if self.viewing else None
                stats = train_step(
                    self.net, self.optimizer, batch, gains[local], cfg, self.device, views, self.filler
                )
            p.batch += 1
            p.minutes = (time.monotonic() - self.started) / 60
            self.bar.advance(p.epoch * self.sampler.num_batches + p.batch, p.minutes)
            if stats is None:
                skipped = self._skipped(skipped + 1)
            else:
                p.step, skipped = p.step + 1, 0
                losses.append(stats["loss"])
                self._log_step(losses, lr, stats)
            self.consistent = True
            if signals.quit:  # a second Ctrl-C came during the step: quit now that the state can be saved
                raise KeyboardInterrupt
            over_time = 0 < t.max_minutes <= p.minutes
            if distrib.any_true(over_time or signals.received is not None):
                return ("signal" if signals.received is not None else "time"), losses
            if stats is not None and distrib.any_true(self._save_due()):
                self._save()
        return "done", losses

    def _save_due(self) -> bool:
        """Every ``train.save_every`` steps, and every ``train.save_every_minutes`` of training."""
        t = self.cfg.train
        by_steps = t.save_every > 0 and self.p.step % t.save_every == 0
        by_time = 0 < t.save_every_minutes <= (time.monotonic() - self.saved_at) / 60
        return by_steps or by_time

    @property
    def viewing(self) -> bool:
        return self.cfg.train.augment or self.cfg.train.scene_prob > 0

    def _views(self, rows: int) -> Views:
        """The global batch's views at the current position: the same after a resume or on P processes."""
        gen = torch.Generator().manual_seed(self.cfg.train.seed * 2**40 + self.p.epoch * 2**20 + self.p.batch)
        return draw_views(gen, rows, self.cfg.data.num_mix, self.cfg.train.scene_prob)

    def _skipped(self, count: int) -> int:
        """Count consecutive unusable batches; too many means the data, not bad luck, is broken."""
        log.warning("skipping batch %d of epoch %d: no usable mixture", self.p.batch, self.p.epoch + 1)
        if count >= MAX_SKIPPED:
            raise TrainError(
                f"{count} batches in a row had no usable mixture; check {self.cfg.data.train_index}"
            )
        return count

    def _log_step(self, losses: list[float], lr: float, stats: dict[str, float]) -> None:
        """Progress bar, TensorBoard and every ``log_every`` steps a CSV row (rank 0)."""
        p, every = self.p, max(1, self.cfg.train.log_every)
        if not self.info.is_main or p.step % every:
            return
        loss = float(np.mean(losses[-every:]))
        epoch = p.epoch + p.batch / self.sampler.num_batches
        self.bar.set_postfix(epoch=f"{epoch:.2f}/{self.cfg.train.epochs}", loss=f"{loss:.4f}", lr=f"{lr:.2e}")
        contrast = stats.get("contrast", "")
        csv_row(self.csv, step=p.step, epoch=epoch, minutes=p.minutes, loss=loss, lr=lr, contrast=contrast)
        if self.writer is not None:
            for key, value in stats.items():
                self.writer.add_scalar(f"train/{key}", value, p.step)
            self.writer.add_scalar("train/lr", lr, p.step)

    def _end_epoch(self, losses: list[float]) -> None:
        """Validate, log, release the best model (rank 0), and write ``last.pt``."""
        p = self.p
        if self.info.is_main:
            sdr, sdr_mix = validate(self.model, self.val_batches, self.device)
            p.val_sdr = sdr
            row = {
                "step": p.step,
                "epoch": p.epoch + p.batch / self.sampler.num_batches,
                "minutes": p.minutes,
            }
            row["loss"] = float(np.mean(losses)) if losses else ""
            row["lr"] = self.optimizer.param_groups[-1]["lr"]
            held = self.monitor_batches
            monitor = validate(self.model, held, self.device)[0] if held else ""  # empty without a monitor
            csv_row(self.csv, **row, val_sdr=sdr, val_sdr_mix=sdr_mix, monitor_sdr=monitor)
            if self.writer is not None and not math.isnan(sdr):
                self.writer.add_scalar("val/sdr", sdr, p.step)
                self.writer.add_scalar("val/sdr_mixture", sdr_mix, p.step)
            log.info("epoch %.2f step %d: val SDR %.2f dB (mixture %.2f dB)", p.epoch, p.step, sdr, sdr_mix)
            if self.monitor_batches:
                log.info("monitored (%s): SDR %.2f dB", self.cfg.data.monitor_index, monitor)
            if math.isnan(sdr) or sdr > p.best_sdr:
                p.best_sdr = sdr if not math.isnan(sdr) else p.best_sdr
                info = {**row, "val_sdr": sdr, "val_sdr_mix": sdr_mix}
                self.released = write_release(self.out / BEST, self.model, self.cfg, info)
        self._save()

    def _save(self) -> None:
        """``last.pt`` from rank 0; every process waits so none runs ahead of a file being written."""
        if self.info.is_main:
            save_state(self.out / LAST, self.model, self.optimizer, self.cfg, self.p, self.gains)
        self.saved_at = time.monotonic()
        distrib.barrier()


# ------------------------------------------------------------------------------------ command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe TOML file (e.g. recipes/instruments/config.toml)")
    add_overrides_argument(parser, "override config values, e.g. --set train.epochs=3 data.num_mix=3")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if it exists")
    parser.add_argument("--out", help="run folder (overrides train.out_dir)")
    parser.add_argument(
        "--init",
        metavar="RELEASE",
        help="start from a release's weights (its model config must match; "
        "a wider unet_channels or frame_width grows the release without changing its output)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.recipe, args.overrides)
        if args.out:
            cfg = replace(cfg, train={"out_dir": args.out})
        result = train(cfg, resume=args.resume, init=args.init)
    finally:
        distrib.close()
    r = result
    log.info(
        "%s after %d steps, %d epochs, %.1f min: best val SDR %.2f dB; checkpoint %s, release %s",
        *(r.stopped, r.step, r.epoch, r.minutes, r.best_sdr, r.checkpoint, r.release),
    )
    return 128 + r.signal if r.stopped == "signal" else 0
