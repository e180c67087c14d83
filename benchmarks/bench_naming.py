"""Why instruments on far material are named wrong, and which naming designs help (a diagnostic).

    .venv/bin/python benchmarks/bench_naming.py            # writes benchmarks/results/naming.md (+ .json)
    .venv/bin/python benchmarks/bench_naming.py --limit 8  # a quick look

Vectors (the bundled model unless ``--model``), cached in ``--cache``:

* training clips (``data/instruments7/train.jsonl``): the clip vector (frame net, pooled) at 4 moments;
  every design's prototypes and statistics come from these only;
* solos: the training world's val split and the far split's solos (``data/far/far.jsonl``);
* duet objects (``pixels`` on ``duet_far.jsonl`` and ``duet_test.jsonl``): the object matched to each
  instrument, its cells' mean vector (what ``pixels`` names), the top-20 % pooled vector, the clip vector of a
  crop around it (what Foley names), and the same two for the instrument's true region (an oracle);
* Foley objects (``foley.detect`` on the silent clips of bench_foley's far and test sets, bank as there):
  the crop vector of the object matched to each true object.

Each vector also comes as test-time augmented means: with the mirrored frames (``flip``) and with mirrored,
greyscale and five 85 % crops (``tta``). Designs: the release's prototypes; class means of the training
vectors (cosine, dot product, or cosine after centering by the training vectors' mean); 3 k-means centroids
per class (nearest prototype); 15 nearest training vectors (vote); linear discriminant (shared covariance,
shrunk halfway to a scaled identity). Named right counts out of all instruments (an unmatched one is wrong).

Heat peak: the object's peak (its hottest cell, or hottest 3 x 3 / 5 x 5 neighbourhood) on the instrument's
box; and cIoU (as bench_duets) against the box and against the instrument's pixels, with the heatmap cell by
cell or smoothed the same way. Objects as ``pixels`` finds them (today's grouping, with look).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pixelsound import checkpoint, foley, localization, regions, spotting  # noqa: E402
from pixelsound.frames import pool_regions  # noqa: E402
from pixelsound.index import read_index  # noqa: E402
from pixelsound.io import read_frames, resize_frames  # noqa: E402
from pixelsound.pixels import pixels  # noqa: E402

FOLEY_SETS = {
    "foley_far": Path("/tmp/foley-data-far-24fps/silent_far.jsonl"),
    "foley_test": Path("/tmp/foley-data-24fps/silent_test.jsonl"),
}
FOLEY_BANK = "/tmp/foley-bank-data"
MOMENTS = [0.5, 2.5, 4.5, 6.5]  # seconds: training and solo clips are seen at these


# ------------------------------------------------------------------------------------------ vectors


def augmented(net, views: torch.Tensor) -> dict[str, torch.Tensor]:
    """Clip vectors of views uint8 ``(A, 1, V, 3, S, S)`` as seen, mirrored, greyscale and in 5 crops.

    Returns ``base``, ``flip`` and ``tta`` (means), each ``(A, K)``.
    """

    def enc(x: torch.Tensor) -> torch.Tensor:
        return net.encode_frames(x)[:, 0]

    base, flip = enc(views), enc(views.flip(-1))
    grey = enc(views.float().mean(-3, keepdim=True).expand_as(views).round().to(torch.uint8))
    side = views.shape[-1]
    cut = round(side * 0.85)
    crops = []
    for y, x in [
        (0, 0),
        (0, side - cut),
        (side - cut, 0),
        (side - cut, side - cut),
        ((side - cut) // 2,) * 2,
    ]:
        part = views[..., y : y + cut, x : x + cut].flatten(0, 2)
        crops.append(enc(resize_frames(part, side).unflatten(0, views.shape[:3])))
    every = torch.stack([base, flip, grey, *crops])  # (8, A, K)
    return {"base": base, "flip": (base + flip) / 2, "tta": every.mean(0)}


def crop_views(net, frames: torch.Tensor, mask: np.ndarray) -> torch.Tensor:
    """The crops :func:`pixelsound.regions.region_features` encodes, ``(VIEWS, 1, V, 3, S, S)``."""
    v, size = net.cfg.frames.num_frames, net.cfg.frames.size
    picks = torch.linspace(0, len(frames) - 1, regions.VIEWS * v).round().long()
    h, w = frames.shape[-2:]
    ys, xs = np.nonzero(mask)
    scale = w / mask.shape[1]
    extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) * scale * regions.CROP_MARGIN
    side = min(h, w, int(round(extent)))
    y0 = int(np.clip((ys.min() + ys.max() + 1) / 2 * scale - side / 2, 0, h - side))
    x0 = int(np.clip((xs.min() + xs.max() + 1) / 2 * scale - side / 2, 0, w - side))
    crops = resize_frames(frames[picks, :, y0 : y0 + side, x0 : x0 + side], size)
    return crops.unflatten(0, (regions.VIEWS, 1, v))


@torch.inference_mode()
def clip_rows(net, index: Path, limit: int | None) -> list[dict]:
    """Solo clips: category, style and augmented vectors at :data:`MOMENTS` (means over them)."""
    rows = []
    for record in read_index(index)[:limit]:
        frames, _ = read_frames(record["path"], times=MOMENTS, size=net.cfg.frames.size)
        vectors = augmented(net, frames[:, None, None])
        rows.append({"cat": record["category"], "style": record.get("style"), **vectors})
    return rows


@torch.inference_mode()
def duet_rows(net, index: Path, limit: int | None) -> list[dict]:
    """Per duet instrument: its matched object's vectors and heatmap (None when unmatched), its true
    region's vectors, its box."""
    rows = []
    records = [r for r in read_index(index) if r.get("masks")][:limit]
    for record in records:
        result = pixels(record["path"], net, progress=False, prototypes={})
        gts = [localization.read_mask(index.parent / m) for m in record["masks"]]
        match = localization.match_objects([o.heatmap for o in result.objects], gts)
        frames, _ = read_frames(record["path"])
        visual = result.visual  # (K, h, w)
        rms = result.energy.sum((2, 3)).sqrt()  # (h, w)
        for gt, m, cat in zip(gts, match, record["categories"], strict=True):
            truth = localization.mask_on_grid(gt, visual.shape[-2:]) > 0.5
            row = {"cat": cat, "box": localization.box_mask(gt), "mask": gt, "object": None}
            row["true_mean"] = visual[:, truth].mean(1)
            row["true_crop"] = augmented(net, crop_views(net, frames, gt.numpy()))["base"].mean(0)
            if m is not None:
                cells = result.objects[m].region
                row["object"] = {
                    "mean": visual[:, cells].mean(1),
                    "top": pool_regions(visual[None], cells[None, None].float(), 0.2)[0, 0],
                    "crop": augmented(net, crop_views(net, frames, cells.numpy()))["base"].mean(0),
                    "heat": torch.where(cells, rms, 0.0).float(),
                }
            rows.append(row)
    return rows


@torch.inference_mode()
def foley_rows(net, model: str | None, index: Path, limit: int | None) -> list[dict]:
    """Per true object of bench_foley's silent clips: the matched Foley object's crop vectors (or None)."""
    import bench_foley

    bank = _bank(model)
    seen: list[list[dict]] = []
    original = spotting.region_features

    def recording(m, frames, masks):
        seen.append([augmented(net, crop_views(net, frames, mask)) for mask in masks])
        return original(m, frames, masks)

    spotting.region_features = recording
    rows = []
    try:
        for record in [r for r in read_index(index) if r.get("soundtrack")][: limit or 30]:
            side = json.loads((index.parent / record["sidecar"]).read_text())
            seen.clear()
            cues = foley.detect(record["path"], model=model, bank=bank)
            truth = bench_foley.true_objects(side)
            pairs = dict(bench_foley.match_objects(truth, cues["objects"]))
            for i, t in enumerate(truth):
                j = pairs.get(i)
                crop = seen[0][j] if seen and j is not None else None
                vectors = None if crop is None else {k: v.mean(0) for k, v in crop.items()}
                rows.append({"cat": t["category"], "style": record.get("style"), "crop": vectors})
    finally:
        spotting.region_features = original
    return rows


def _bank(model: str | None) -> str | None:
    """bench_foley's bank for the model when it was built (``bank-<hash>``), else none."""
    folder = Path(model) if model else ROOT / "pixelsound" / "assets" / "model"
    digest = hashlib.sha1((folder / "model.safetensors").read_bytes()).hexdigest()[:10]
    bank = Path(FOLEY_BANK) / f"bank-{digest}"
    return str(bank) if (bank / "bank.json").is_file() else None


# ------------------------------------------------------------------------------------------ designs


class Namer:
    """Names vectors ``(n, K)`` -> class indices ``(n,)``; built from training vectors ``X (m, K)``, ``y``."""

    def __init__(self, X, y, classes: int, kind: str = "mean", center: bool = False, metric: str = "cos"):
        self.kind, self.metric, self.classes = kind, metric, classes
        self.center = X.mean(0) if center else torch.zeros(X.shape[1])
        Xc = X - self.center
        means = torch.stack([Xc[y == c].mean(0) for c in range(classes)])  # (Y, K)
        self.P, self.Py = means, torch.arange(classes)
        if kind == "kmeans":
            self.P, self.Py = kmeans_per_class(Xc, y, classes, 3)
        elif kind == "knn":
            self.P, self.Py = Xc, y
        elif kind == "lda":
            resid = Xc - means[y]
            cov = resid.T @ resid / len(resid)
            cov = 0.5 * cov + 0.5 * torch.eye(len(cov)) * cov.diagonal().mean()
            self.W = torch.linalg.inv(cov)

    def __call__(self, V: torch.Tensor) -> torch.Tensor:
        Vc = V - self.center
        if self.kind == "lda":
            return (Vc @ self.W @ self.P.T - 0.5 * ((self.P @ self.W) * self.P).sum(1)).argmax(1)
        sims = (
            Vc @ self.P.T if self.metric == "dot" else F.normalize(Vc, dim=1) @ F.normalize(self.P, dim=1).T
        )
        if self.kind == "knn":
            top = sims.topk(15, dim=1).indices  # (n, 15)
            votes = F.one_hot(self.Py[top], self.classes).sum(1).float() + 1e-3 * sims.topk(
                15, dim=1
            ).values.mean(1, keepdim=True)
            return votes.argmax(1)
        per_class = torch.full((len(V), self.classes), -torch.inf)
        for c in range(self.classes):
            per_class[:, c] = sims[:, self.Py == c].max(1).values
        return per_class.argmax(1)


def kmeans_per_class(X, y, classes: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` spherical k-means centroids per class (seeded), ``(Y * k, K)`` and their classes."""
    gen = torch.Generator().manual_seed(0)
    cents, owners = [], []
    for c in range(classes):
        Z = F.normalize(X[y == c], dim=1)
        C = Z[torch.randperm(len(Z), generator=gen)[:k]].clone()
        for _ in range(30):
            a = (Z @ C.T).argmax(1)
            C = F.normalize(
                torch.stack([Z[a == j].mean(0) if (a == j).any() else C[j] for j in range(len(C))]), dim=1
            )
        cents.append(C)
        owners += [c] * len(C)
    return torch.cat(cents), torch.tensor(owners)


class Released:
    """The release's prototypes, cosine (what pixelsound does)."""

    def __init__(self, prototypes: dict[str, torch.Tensor], names: list[str]):
        self.P = F.normalize(torch.stack([prototypes[n] for n in names]), dim=1)

    def __call__(self, V: torch.Tensor) -> torch.Tensor:
        return (F.normalize(V, dim=1) @ self.P.T).argmax(1)


def designs(train: list[dict], view: str, names: list[str], prototypes) -> dict:
    X = torch.cat([r[view] for r in train])  # (clips * moments, K)
    y = torch.tensor([names.index(r["cat"]) for r in train for _ in range(len(r[view]))])
    n = len(names)
    return {
        "release prototypes": Released(prototypes, names),
        "class means": Namer(X, y, n),
        "class means, dot": Namer(X, y, n, metric="dot"),
        "class means, centred": Namer(X, y, n, center=True),
        "3 k-means per class, centred": Namer(X, y, n, "kmeans", center=True),
        "15 nearest clips, centred": Namer(X, y, n, "knn", center=True),
        "linear discriminant": Namer(X, y, n, "lda"),
    }


# ------------------------------------------------------------------------------------------ measures


def right(namer, rows: list[dict], get, names: list[str]) -> tuple[int, int]:
    """(named right, all) over rows; ``get(row)`` is the vector or None (then it counts as wrong)."""
    have = [r for r in rows if get(r) is not None]
    if not have:
        return 0, len(rows)
    pred = namer(torch.stack([get(r) for r in have]))
    return int(sum(names[int(p)] == r["cat"] for p, r in zip(pred, have, strict=True))), len(rows)


def pct(pair: tuple[int, int]) -> str:
    return f"{100 * pair[0] / max(pair[1], 1):.1f}"


def confusion(namer, rows: list[dict], get, names: list[str]) -> list[str]:
    """A markdown confusion matrix (rows: true, columns: named)."""
    have = [r for r in rows if get(r) is not None]
    pred = namer(torch.stack([get(r) for r in have]))
    counts = Counter((r["cat"], names[int(p)]) for p, r in zip(pred, have, strict=True))
    lines = ["| true \\ named | " + " | ".join(n[:5] for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    for a in names:
        lines.append(f"| {a} | " + " | ".join(str(counts.get((a, b), "")) for b in names) + " |")
    return lines


def distances(rows: list[dict], view: str, prototypes, names: list[str], train: list[dict]) -> dict:
    """How far solo vectors are from the prototypes: cosine to the nearest one (named right / wrong), to the
    true one, the true one's rank when wrong, cosine to the nearest training vector, components above 0.5."""
    P = F.normalize(torch.stack([prototypes[n] for n in names]), dim=1)
    V = torch.stack([r[view].mean(0) for r in rows])
    t = torch.tensor([names.index(r["cat"]) for r in rows])
    sims = F.normalize(V, dim=1) @ P.T
    ok = sims.argmax(1) == t
    rank = (sims.argsort(1, descending=True) == t[:, None]).float().argmax(1) + 1
    X = F.normalize(torch.cat([r[view] for r in train]), dim=1)

    def mean(x):
        return round(float(x.mean()), 3) if len(x) else None

    best = sims.max(1).values
    return {
        "nearest, named right": mean(best[ok]),
        "nearest, named wrong": mean(best[~ok]),
        "to the true prototype": mean(sims[torch.arange(len(t)), t]),
        "rank of the true one when wrong": mean(rank[~ok].float()),
        "nearest training vector": mean((F.normalize(V, dim=1) @ X.T).max(1).values),
        "components > 0.5": mean((V > 0.5).float().sum(1)),
    }


def smoothed(heat: torch.Tensor, k: int) -> torch.Tensor:
    """Each cell's mean over its k x k neighbourhood (k = 1: the heatmap itself)."""
    if k == 1:
        return heat
    return F.avg_pool2d(heat[None, None], k, 1, k // 2, count_include_pad=False)[0, 0]


def heat_table(rows: list[dict]) -> dict[str, tuple[float, float, float]]:
    """Per k: the object's peak taken as its hottest k x k neighbourhood on the instrument's box (share of
    all instruments), and cIoU against the box and against the instrument's pixels (means over all
    instruments, 0 when unmatched) with the heatmap itself averaged over k x k neighbourhoods."""
    out = {}
    for k in (1, 3, 5):
        peaks, boxes, pixels_ = [], [], []
        for r in rows:
            if r["object"] is None:
                peaks.append(False)
                boxes.append(0.0)
                pixels_.append(0.0)
                continue
            heat = smoothed(r["object"]["heat"], k)
            peak = divmod(int(heat.argmax()), heat.shape[1])
            peaks.append(localization.peak_inside(peak, tuple(heat.shape), r["box"]))
            boxes.append(localization.ciou(heat / heat.max(), r["box"]))
            pixels_.append(localization.ciou(heat / heat.max(), r["mask"]))
        name = "cell by cell" if k == 1 else f"{k} x {k} mean"
        out[name] = (float(np.mean(peaks)), float(np.mean(boxes)), float(np.mean(pixels_)))
    return out


# ------------------------------------------------------------------------------------------ report


def load_or_make(cache: Path, name: str, make) -> list[dict]:
    path = cache / f"{name}.pt"
    if path.is_file():
        return torch.load(path)
    rows = make()
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(rows, path)
    return rows


def _object(row: dict, key: str) -> torch.Tensor | None:
    """A duet instrument's matched object's vector ``key``, or None without an object."""
    return None if row["object"] is None else row["object"][key]


VIEWS = ("base", "flip", "tta")
DUET_VECTORS = {
    "cells' mean": lambda r: _object(r, "mean"),
    "top 20 %": lambda r: _object(r, "top"),
    "crop": lambda r: _object(r, "crop"),
    "true region, mean": lambda r: r["true_mean"],
    "true region, crop": lambda r: r["true_crop"],
}


def columns(sets: dict) -> list[tuple[str, str, str, Callable]]:
    """(set, column, view of the training vectors, the row's vector) of each column whose set is there."""
    out = []
    for s in ("val", "far"):
        out += [(s, f"{s} solos, {v}", v, lambda r, v=v: r[v].mean(0)) for v in VIEWS]
    for s in ("foley_far", "foley_test"):
        out += [(s, f"{s}, {v}", v, lambda r, v=v: r["crop"] and r["crop"][v]) for v in VIEWS]
    for s in ("duets_far", "duets_test"):
        out += [(s, f"{s}, {k}", "base", get) for k, get in DUET_VECTORS.items()]
    return [c for c in out if c[0] in sets]


def naming_tables(sets: dict, train: list[dict], names: list[str], prototypes) -> tuple[list[str], dict]:
    """Named right (%) per design, one table per set: solos and Foley objects per view, duet objects per
    vector."""
    by_view = {v: designs(train, v, names, prototypes) for v in VIEWS}
    cols = columns(sets)
    table = {
        design: {c: right(by_view[view][design], sets[s], get, names) for s, c, view, get in cols}
        for design in by_view["base"]
    }
    lines = []
    for s in dict.fromkeys(c[0] for c in cols):
        group = [c for t, c, _, _ in cols if t == s]
        lines += ["| design | " + " | ".join(group) + " |", "|---" * (len(group) + 1) + "|"]
        lines += [f"| {d} | " + " | ".join(pct(row[c]) for c in group) + " |" for d, row in table.items()]
        lines.append("")
    return lines, {d: {c: list(v) for c, v in row.items()} for d, row in table.items()}


def where_far_vectors_lie(sets: dict, train: list[dict], names: list[str], prototypes) -> tuple[list, dict]:
    """Distances of solo vectors to the prototypes, far solos right per library, and confusion matrices."""
    released = Released(prototypes, names)
    lines = ["## Where far vectors lie (cosine, release prototypes, solos seen as `base`)", ""]
    dist = {s: distances(sets[s], "base", prototypes, names, train) for s in ("val", "far")}
    keys = list(dist["val"])
    lines += ["| split | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {s} | " + " | ".join(str(dist[s][k]) for k in keys) + " |" for s in dist]
    far = sets["far"]
    named = released(torch.stack([r["base"].mean(0) for r in far]))
    style = Counter((r["style"], names[int(p)] == r["cat"]) for r, p in zip(far, named, strict=True))
    libraries = sorted({s for s, _ in style})
    per_library = [f"{s} {style[(s, True)]}/{style[(s, True)] + style[(s, False)]}" for s in libraries]
    lines += ["", "Far solos named right per picture library: " + ", ".join(per_library) + ".", ""]
    for title, key, get in (
        ("far solos", "far", lambda r: r["base"].mean(0)),
        ("far duets (matched objects, cells' mean)", "duets_far", lambda r: _object(r, "mean")),
        ("far Foley objects", "foley_far", lambda r: r["crop"] and r["crop"]["base"]),
    ):
        if key in sets:
            lines += [
                f"Confusion, {title}, release prototypes:",
                "",
                *confusion(released, sets[key], get, names),
            ]
            lines.append("")
    return lines, dist


def report(
    sets: dict, train: list[dict], names: list[str], prototypes, command: str, model: str
) -> tuple[str, dict]:
    counts = ", ".join(f"{name} {len(rows)}" for name, rows in sets.items())
    lines = [
        "# Naming instruments on far material: diagnosis and designs", "", f"Command: `{command}`", "",
        f"Model: {model}. Training clips: {len(train)}. Rows (solos, or instruments of duets and Foley "
        f"clips): {counts}. CPU capability {torch.backends.cpu.get_cpu_capability()}.", "",
        "## Named right (%) by design", "",
        "Views: `base` as seen, `flip` mean with the mirrored frames, `tta` mean with mirrored, greyscale "
        "and five 85 % crops. Duets: the vector of the object matched to each instrument (an instrument "
        "without an object counts as wrong), and the instrument's true region (an oracle for where the "
        "object should be).", "",
    ]  # fmt: skip
    tables, numbers = naming_tables(sets, train, names, prototypes)
    where, dist = where_far_vectors_lie(sets, train, names, prototypes)
    lines += tables + where
    heat = {s: heat_table(sets[s]) for s in ("duets_far", "duets_test") if s in sets}
    if heat:
        lines += ["## Heat peak and cIoU of duet objects", ""]
        lines += [
            "| set | k | peak (hottest k x k) on its instrument | cIoU box / pixels (heatmap k x k mean) |"
        ]
        lines.append("|---|---|---|---|")
        for s, rows in heat.items():
            lines += [f"| {s} | {k} | {p:.1%} | {b:.3f} / {x:.3f} |" for k, (p, b, x) in rows.items()]
    return "\n".join(lines) + "\n", {"named": numbers, "distances": dist, "heat": heat}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="release folder (default: the bundled model)")
    parser.add_argument("--data", type=Path, default=ROOT / "data", help="holds instruments7/ and far/")
    parser.add_argument("--limit", type=int, default=None, help="at most this many clips per set")
    parser.add_argument(
        "--sets", nargs="*", default=["duets_far", "duets_test", "foley_far", "foley_test"],
        choices=["duets_far", "duets_test", "foley_far", "foley_test"],
        help="object sets besides the val and far solos (the duets run pixels, the Foley sets foley.detect)",
    )  # fmt: skip
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bench-naming"), help="vectors cache")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "naming.md")
    args = parser.parse_args()
    net = checkpoint.load_model(args.model).eval()
    prototypes = checkpoint.release_prototypes(args.model)
    if not prototypes:
        raise SystemExit(f"{args.model or 'the bundled model'}: its release stores no category prototypes")
    names = sorted(prototypes)
    tag = hashlib.sha1(str((args.model, args.data)).encode()).hexdigest()[:8]
    cache, lim = args.cache / f"{tag}-{args.limit or 'all'}", args.limit
    instruments, far = args.data / "instruments7", args.data / "far"
    test_duets = instruments / "duet_test.jsonl"
    train = load_or_make(args.cache / tag, "train", lambda: clip_rows(net, instruments / "train.jsonl", None))
    makers = {
        "val": lambda: clip_rows(net, instruments / "val.jsonl", lim),
        "far": lambda: clip_rows(net, far / "far.jsonl", lim),
        "duets_far": lambda: duet_rows(net, far / "duet_far.jsonl", lim),
        "duets_test": lambda: duet_rows(net, test_duets, lim),
        "foley_far": lambda: foley_rows(net, args.model, FOLEY_SETS["foley_far"], lim),
        "foley_test": lambda: foley_rows(net, args.model, FOLEY_SETS["foley_test"], lim),
    }
    sets = {name: load_or_make(cache, name, makers[name]) for name in ("val", "far", *args.sets)}
    command = "benchmarks/bench_naming.py " + " ".join(sys.argv[1:])
    text, numbers = report(
        sets, train, names, prototypes, command.strip(), args.model or "pixelsound/assets/model"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(numbers, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
