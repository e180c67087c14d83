"""`pixelsound evaluate MODEL INDEX`: the model against its limits on fixed, seeded mixtures.

One concern, evaluating a model on fixed mixtures: the separations, their scores and the report.

For every N in ``mixes`` a fixed list of ``count`` groups of N clips is drawn with ``seed`` (clips from
different videos, and from different categories when the index knows enough of them; the same rule as
training, :func:`pixelsound.mixing.draw_groups`). Each clip gives its deterministic (centred) evaluation
window; the mixture is the plain sum of the N sources. Every mixture is separated six ways, all scored with
BSS-eval SDR / SIR / SAR (:func:`pixelsound.metrics.bss_eval`, as mir_eval, estimate n against source n) and
SI-SDR:

    mixture      the mixture itself as every estimate: the lower bound
    model        the model's masks, applied as the model applies them
    ibm, irm     ideal binary (loudest source) and ratio (source / mixture, clamped to [0, 1]) masks on the
                 model's own warped log-frequency grid, unwarped and applied with the mixture's phase: the
                 best the model's output space can do
    ibm_linear, irm_linear    the same ideal masks on the linear STFT grid

Outputs (in ``out``): ``evaluation.json`` (settings, the mix list, per-mix scores, summary),
``evaluation.md`` (mean and median per method and N) and ``figures/*.png`` (spectrograms of the mixture,
truth and estimates, the model's and the ideal masks) for the first few mixes of each N.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pixelsound import plots, spec
from pixelsound.checkpoint import load_model
from pixelsound.dataset import ClipDataset
from pixelsound.errors import UserError
from pixelsound.index import read_index
from pixelsound.int8 import quantize_convs
from pixelsound.losses import dominant_target, ratio_target
from pixelsound.metrics import bss_eval, si_sdr
from pixelsound.mixing import draw_groups, item_labels

log = logging.getLogger(__name__)

METHODS = {
    "mixture": "mixture (lower bound)",
    "model": "model",
    "ibm": "ideal binary mask, model grid",
    "irm": "ideal ratio mask, model grid",
    "ibm_linear": "ideal binary mask, linear STFT",
    "irm_linear": "ideal ratio mask, linear STFT",
}
METRICS = {"sdr": "SDR", "sir": "SIR", "sar": "SAR", "si_sdr": "SI-SDR"}


class EvalError(UserError, ValueError):
    """The evaluation cannot run as asked (no clips, too few videos for N, a bad argument)."""


@dataclass(frozen=True)
class EvalResult:
    """What an evaluation measured.

    Attributes:
        summary: ``{N: {method: {metric: {"mean", "median", "count", "nan"}}}}`` over all sources of all mixes
            (dB; ``N`` as a string, as in the JSON).
        mixes: one dict per scored mix: ``n``, ``items``, ``paths``, ``categories`` and
            ``scores[method][metric]`` (one value per source, NaN for a silent estimate).
        skipped: mixes left out, each with its ``items`` and ``reason``.
        table: the markdown table.
        out_dir: where the files were written (None when not written).
    """

    summary: dict[str, dict[str, dict[str, dict[str, float]]]]
    mixes: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    table: str
    out_dir: Path | None


def draw_mixes(dataset: Any, num_mix: int, count: int, seed: int) -> np.ndarray:
    """The fixed list of mixes for one N: a pure function of the dataset's labels, N, count and seed.

    Shapes:
        -> int64 (count, N) item indices
    """
    videos, categories = item_labels(dataset)
    try:
        return draw_groups(videos, categories, count, num_mix, np.random.default_rng([seed, num_mix]))
    except ValueError as err:
        raise EvalError(f"cannot draw {num_mix}-mixes from {len(dataset)} clips: {err}") from None


def ideal_masks(model: torch.nn.Module, sources: Tensor) -> dict[str, Tensor]:
    """Ideal binary and ratio masks of each source, on the model's warped grid and on the linear grid.

    Returns:
        ``{"ibm", "irm"}`` (N, F, T) and ``{"ibm_linear", "irm_linear"}`` (N, F_lin, T).

    Shapes:
        sources (N, L)
    """
    src_spec, src_mag = model.spectrogram(sources)  # (N, F_lin, T), (N, F, T)
    mix_spec, mix_mag = model.spectrogram(sources.sum(0))  # (F_lin, T), (F, T)
    lin_mags = src_spec.abs()[None]  # (1, N, F_lin, T)
    return {
        "ibm": dominant_target(src_mag[None])[0],
        "irm": ratio_target(src_mag[None], mix_mag[None])[0],
        "ibm_linear": dominant_target(lin_mags)[0],
        "irm_linear": ratio_target(lin_mags, mix_spec.abs()[None])[0],
    }


def separate_all(
    model: torch.nn.Module, sources: Tensor, frames: Tensor, hard: bool = False
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Estimates of every method for one mixture, and the masks behind them.

    Args:
        model: a SoundOfPixels in eval mode.
        sources: the N solo windows (their sum is the mixture).
        frames: each source's frames.
        hard: threshold the model's masks at 0.5 (as the original code scores binary masks); else soft masks
            sharing each bin as ``cfg.model.compete`` says (:func:`pixelsound.spec.compete`).

    Returns:
        ``(estimates, masks)``: estimates ``{method: (N, L)}`` for every method of :data:`METHODS`; masks
        ``{"model", "ibm", ...}`` as in :func:`ideal_masks`, the model's ``(N, F, T)``.

    Shapes:
        sources (N, L), frames (N, V, 3, H, W)
    """
    length = sources.shape[-1]
    mix = sources.sum(0)  # (L,)
    out = model(mix[None], frames[None])
    soft = spec.compete(out.masks[0], model.cfg.model.compete)
    masks = {"model": (out.masks[0] > 0.5).to(out.masks.dtype) if hard else soft}
    masks.update(ideal_masks(model, sources))
    mix_spec = out.mix_spec  # (1, F_lin, T)
    estimates = {"mixture": mix.expand_as(sources)}
    for name in ("model", "ibm", "irm"):
        estimates[name] = model.apply_masks(masks[name][None], mix_spec, length)[0]
    a = model.cfg.audio
    for name in ("ibm_linear", "irm_linear"):
        estimates[name] = spec.istft(masks[name] * mix_spec, a.n_fft, a.hop, length)
    return estimates, masks


def separation_scores(sources: Tensor, estimates: dict[str, Tensor]) -> dict[str, dict[str, list[float]]]:
    """BSS-eval (one Gram matrix for all methods) and SI-SDR of each method's estimates.

    Returns:
        ``{method: {metric: [one value per source]}}``; NaN for a silent estimate.

    Shapes:
        sources (N, L), estimates {method: (N, L)}
    """
    names = list(estimates)
    stacked = torch.stack([estimates[k] for k in names]).cpu()  # (M, N, L)
    ref = sources.cpu()
    bss = bss_eval(ref, stacked, compute_permutation=False, silent="nan")  # each (M, N)
    scale_free = si_sdr(ref.expand_as(stacked), stacked).numpy()  # (M, N)
    table = {"sdr": bss["sdr"], "sir": bss["sir"], "sar": bss["sar"], "si_sdr": scale_free}
    return {k: {m: [float(v) for v in table[m][i]] for m in METRICS} for i, k in enumerate(names)}


def summarize(mixes: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """Mean and median of every metric per N and method over all sources of all mixes (NaN left out)."""
    summary: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for n in sorted({m["n"] for m in mixes}):
        group = [m for m in mixes if m["n"] == n]
        summary[str(n)] = {}
        for method in METHODS:
            summary[str(n)][method] = {}
            for metric in METRICS:
                values = np.array([v for m in group for v in m["scores"][method][metric]], dtype=np.float64)
                finite = values[~np.isnan(values)]
                summary[str(n)][method][metric] = {
                    "mean": float(finite.mean()) if finite.size else math.nan,
                    "median": float(np.median(finite)) if finite.size else math.nan,
                    "count": int(values.size),
                    "nan": int(values.size - finite.size),
                }
    return summary


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "–"
    return "≥ 100" if value >= 100 else f"{value:.2f}"


def markdown_table(
    summary: dict[str, dict[str, dict[str, dict[str, float]]]], mixes_per_n: dict[str, int]
) -> str:
    """One table per N: rows are the methods, columns the metrics, cells ``mean (median)`` in dB."""
    lines = []
    for n, methods in summary.items():
        count = methods["model"]["sdr"]["count"]
        lines += [f"### {n}-source mixtures ({mixes_per_n.get(n, 0)} mixes, {count} sources)", ""]
        lines.append("| method | " + " | ".join(METRICS.values()) + " |")
        lines.append("|---" * (len(METRICS) + 1) + "|")
        for method, label in METHODS.items():
            cells = [f"{_fmt(s['mean'])} ({_fmt(s['median'])})" for s in methods[method].values()]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        silent = methods["model"]["sdr"]["nan"]
        note = f" {silent} silent model estimates left out." if silent else ""
        lines += ["", f"Mean (median) in dB over all sources.{note}", ""]
    lines.append(
        "The mixture's SAR is unbounded (the mixture lies in the span of the sources) and shows as ≥ 100."
    )
    return "\n".join(lines) + "\n"


def mix_figure(
    model: torch.nn.Module,
    sources: Tensor,
    estimates: dict[str, Tensor],
    masks: dict[str, Tensor],
    labels: list[str],
    title: str,
) -> Any:
    """Spectrograms (warped grid, one dB scale) of mixture, truth, estimate, and the model's and ideal masks.

    Shapes:
        sources (N, L), estimates {method: (N, L)}, masks {name: (N, F, T)}; labels: one per source
    """
    n = sources.shape[0]
    mags = {
        "mixture": model.spectrogram(sources.sum(0))[1][None],  # (1, F, T)
        "truth": model.spectrogram(sources)[1],  # (N, F, T)
        "estimate": model.spectrogram(estimates["model"])[1],
    }
    top = float(mags["mixture"].max())
    zoom = max(1, 160 // mags["mixture"].shape[-2])  # small grids drawn 2x or more
    rows = [(k, [plots.spectrogram_image(m, ref=top, scale=zoom) for m in mag]) for k, mag in mags.items()]
    rows[0] = ("mixture", rows[0][1] + [None] * (n - 1))
    rows.append(("model mask", [plots.mask_image(m, scale=zoom) for m in masks["model"]]))
    rows.append(("ideal binary mask", [plots.mask_image(m, scale=zoom) for m in masks["ibm"]]))
    return plots.grid_figure(rows, col_titles=labels, title=title)


class _Items:
    """Dataset items by index, the most recently used kept in memory (mixes reuse clips)."""

    def __init__(self, dataset: Any, keep: int = 128) -> None:
        self.dataset, self.keep = dataset, keep
        self.memory: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i not in self.memory:
            self.memory[i] = self.dataset[i]
            while len(self.memory) > self.keep:
                self.memory.popitem(last=False)
        self.memory.move_to_end(i)
        return self.memory[i]


def _mix_record(dataset: Any, n: int, group: np.ndarray) -> dict[str, Any]:
    records = getattr(dataset, "records", None)
    names = getattr(dataset, "categories", [])
    cats = [dataset.category_of(int(i)) for i in group]
    return {
        "n": n,
        "items": [int(i) for i in group],
        "paths": [str(records[int(i)].get("path")) for i in group] if records is not None else [],
        "categories": [names[c] if 0 <= c < len(names) else None for c in cats],
    }


def _evaluate_mix(
    model: torch.nn.Module, items: _Items, record: dict[str, Any], hard: bool
) -> tuple[dict[str, Any], tuple | None]:
    """Score one mix: (record with ``scores``, what a figure needs), or (record with ``reason``, None)."""
    got = [items[i] for i in record["items"]]
    replaced = [i for i, item in zip(record["items"], got, strict=True) if int(item["index"]) != i]
    if replaced:
        return {**record, "reason": f"clips {replaced} failed to load (see the warnings)"}, None
    device = next(model.parameters()).device
    sources = torch.stack([item["audio"] for item in got]).to(device, torch.float32)  # (N, L)
    frames = torch.stack([item["frames"] for item in got]).to(device)  # (N, V, 3, H, W)
    silent = [i for i, s in zip(record["items"], sources, strict=True) if not bool(s.abs().max() > 0)]
    if silent:
        return {**record, "reason": f"clips {silent} are silent in their evaluation window"}, None
    estimates, masks = separate_all(model, sources, frames, hard)
    return {**record, "scores": separation_scores(sources, estimates)}, (sources, estimates, masks)


def _open_dataset(index: Any, cfg: Any, split: str | None, cache_dir: str | None) -> Any:
    """A ClipDataset of evaluation windows (an index path or records), or a ready dataset as it is."""
    if not isinstance(index, str | Path | list):
        return index
    records = read_index(index) if isinstance(index, str | Path) else list(index)
    if split is not None:
        found = sorted({str(r.get("split")) for r in records})
        records = [r for r in records if r.get("split") == split]
        if not records:
            raise EvalError(f"{index}: no clip has split {split!r} (splits found: {', '.join(found)})")
    return ClipDataset(records, cfg.audio, cfg.frames, train=False, cache_dir=cache_dir)


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _run_mixes(
    model: torch.nn.Module,
    dataset: Any,
    plan: list[dict[str, Any]],
    hard: bool,
    figures: int,
    fig_dir: Path | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Score every planned mix (tqdm progress), drawing figures for the first few of each N."""
    items, scored, skipped = _Items(dataset), [], []
    drawn: dict[int, int] = {}
    bar = tqdm(plan, desc="evaluate", unit="mix", dynamic_ncols=True)
    for record in bar:
        result, parts = _evaluate_mix(model, items, record, hard)
        if parts is None:
            log.warning("mix %s skipped: %s", record["items"], result["reason"])
            skipped.append(result)
            continue
        scored.append(result)
        bar.set_postfix(
            model_sdr=f"{np.nanmean([v for m in scored for v in m['scores']['model']['sdr']]):.2f}"
        )
        n = record["n"]
        if fig_dir is not None and drawn.get(n, 0) < figures:
            sdrs = result["scores"]["model"]["sdr"]
            labels = [
                f"{c or 'source ' + str(k + 1)}\nSDR {s:.1f} dB"
                for k, (c, s) in enumerate(zip(result["categories"] or [None] * n, sdrs, strict=True))
            ]
            title = f"{n}-mix {drawn.get(n, 0)}: items {record['items']}"
            image = mix_figure(model, *parts, labels=labels, title=title)
            plots.save_png(image, fig_dir / f"mix{n}_{drawn.get(n, 0):03d}.png")
            drawn[n] = drawn.get(n, 0) + 1
    return scored, skipped


def evaluate(
    model_or_path: Any,
    index: Any,
    *,
    mixes: tuple[int, ...] | list[int] = (2, 3),
    count: int = 200,
    seed: int = 0,
    out_dir: str | Path | None = None,
    split: str | None = None,
    figures: int = 4,
    hard: bool = False,
    device: str = "cpu",
    cache_dir: str | None = None,
    int8: bool = False,
) -> EvalResult:
    """Score a model, the mixture and the ideal masks on a fixed, seeded list of mixtures.

    Args:
        model_or_path: a SoundOfPixels (used where it is), a release folder / ``.pt`` checkpoint, or None (the
            bundled release); see :func:`pixelsound.checkpoint.load_model`.
        index: an index file or its records (evaluation windows are built with the model's config), or a
            ready dataset of evaluation items (anything with ``__getitem__``, ``__len__``, ``category_of``).
        mixes: the N values to evaluate.
        count: mixes per N.
        seed: seeds the mix list (the list is saved in the JSON).
        out_dir: where to write ``evaluation.json``, ``evaluation.md`` and ``figures/``; None writes nothing.
        split: keep only the index's clips with this ``split``.
        figures: figures drawn for the first mixes of each N.
        hard: threshold the model's masks at 0.5.
        device: where the model runs (a loaded model stays where it is).
        cache_dir: decoded-clip cache for the dataset.
        int8: run the model's convolutions in int8 (:mod:`pixelsound.int8`, as ``separate --int8``).

    Returns:
        An :class:`EvalResult`.
    """
    start = time.perf_counter()
    was_training = getattr(model_or_path, "training", False)
    model = load_model(model_or_path, None if isinstance(model_or_path, torch.nn.Module) else device)
    net = quantize_convs(model) if int8 else model  # a copy: the loaded model stays as it is
    dataset = _open_dataset(index, model.cfg, split, cache_dir)
    if count < 1 or not mixes or any(n < 2 for n in mixes):
        raise EvalError(f"need count >= 1 and every N >= 2, got count={count}, mixes={list(mixes)}")
    plan = [_mix_record(dataset, n, g) for n in mixes for g in draw_mixes(dataset, n, count, seed)]
    out = Path(out_dir) if out_dir is not None else None
    try:
        with torch.inference_mode():
            scored, skipped = _run_mixes(net, dataset, plan, hard, figures, out / "figures" if out else None)
    finally:
        model.train(was_training)
    if not scored:
        raise EvalError(
            f"every one of the {len(plan)} mixes was skipped; first reason: {skipped[0]['reason']}"
        )
    summary = summarize(scored)
    per_n = {str(n): sum(m["n"] == n for m in scored) for n in mixes}
    result = EvalResult(summary, scored, skipped, markdown_table(summary, per_n), out)
    if out is not None:
        _write(
            result,
            model,
            index,
            dict(mixes=list(mixes), count=count, seed=seed, split=split, hard=hard, int8=int8),
            time.perf_counter() - start,
        )
    log.info("evaluated %d mixes in %.1f s", len(scored), time.perf_counter() - start)
    return result


def _write(result: EvalResult, model: Any, index: Any, settings: dict[str, Any], seconds: float) -> None:
    result.out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "index": str(index) if isinstance(index, str | Path) else None,
        "settings": settings,
        "methods": METHODS,
        "config": model.cfg.to_dict(),
        "seconds": round(seconds, 2),
        "summary": result.summary,
        "mixes": result.mixes,
        "skipped": result.skipped,
    }
    text = json.dumps(_json_safe(payload), indent=1, allow_nan=False)
    (result.out_dir / "evaluation.json").write_text(text + "\n")
    (result.out_dir / "evaluation.md").write_text("# Evaluation\n\n" + result.table)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", help="release folder, its model.safetensors / config.json, or a .pt checkpoint"
    )
    parser.add_argument("index", help="JSON-lines index of the clips to mix (e.g. the test split)")
    parser.add_argument("--mixes", type=int, nargs="+", default=[2, 3], metavar="N", help="sources per mix")
    parser.add_argument("--count", type=int, default=200, help="mixes per N (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mix list (default 0)")
    parser.add_argument("--out", help="output folder (default: MODEL's folder/eval)")
    parser.add_argument("--split", help="only clips whose index record has this split")
    parser.add_argument("--figures", type=int, default=4, help="figures per N (default 4)")
    parser.add_argument("--hard", action="store_true", help="threshold the model's masks at 0.5")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... (default cpu)")
    parser.add_argument("--cache-dir", help="decoded-clip cache folder")
    parser.add_argument("--int8", action="store_true", help="int8 convolutions (CPU; see pixelsound.int8)")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (1 is fastest on a busy machine; default: torch's)"
    )


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    model_path = Path(args.model)
    out = Path(args.out) if args.out else (model_path if model_path.is_dir() else model_path.parent) / "eval"
    result = evaluate(
        args.model,
        args.index,
        mixes=args.mixes,
        count=args.count,
        seed=args.seed,
        out_dir=out,
        split=args.split,
        figures=args.figures,
        hard=args.hard,
        device=args.device,
        cache_dir=args.cache_dir,
        int8=args.int8,
    )
    print(result.table)
    print(f"written: {out / 'evaluation.json'}, {out / 'evaluation.md'}, {out / 'figures'}")
    return 0
