"""Build notebooks/per_pixel.ipynb (the sound of every pixel, on a generated duet) with nbformat.

.venv/bin/python notebooks/_make_per_pixel.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    (
        "md",
        """# The sound of every pixel

A trained Sound-of-Pixels model mixes K audio components with a visual vector to make a mask. Given the
frame net's **per-pixel** features `(K, h, w)` instead of one clip vector, the same synthesizer (one `einsum`)
gives a mask, and so a sound, for every grid cell. This notebook walks through `pixelsound.pixels` on a duet
made by the data builder: two instruments side by side, with their true stems and pixel masks.

With `PIXELSOUND_NOTEBOOK_TINY=1` (as the tests run it) the duet is small and the model is a tiny untrained
one, so the sounds are arbitrary: the mechanics are the same, the numbers mean nothing. Without it, the
bundled trained model is used when the checkout has it.""",
    ),
    (
        "code",
        """import os, tempfile
from pathlib import Path

import torch
from IPython.display import Audio, display

from pixelsound import builder, cells, io, localization, pixels, plots
from pixelsound.instruments import CATEGORIES
from pixelsound.pictures import TRAIN_STYLES

TINY = os.environ.get("PIXELSOUND_NOTEBOOK_TINY") == "1"
WORK = Path(os.environ.get("PIXELSOUND_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="per_pixel_"))
torch.manual_seed(0)
print("tiny:", TINY, "| writing under", WORK)""",
    ),
    (
        "md",
        """## A generated duet

One clip from the instruments builder: a duet with clean stems and a mask per instrument.""",
    ),
    (
        "code",
        """size, seconds = (64, 2.0) if TINY else (224, 6.0)
build = builder.BuildConfig(out=WORK / "duet_data", clips=1, size=size, seconds=seconds, sample_rate=11025)
plan = builder.ClipPlan(0, "duet", False, "duet_test", TRAIN_STYLES[0], ("violin", "drum"))
record = builder.make_clip(plan, build)
video = record["path"]
stems = [io.read_audio(build.out / s, 8000)[0] for s in record["stems"]]
masks = [localization.read_mask(build.out / m) for m in record["masks"]]
frame = io.read_frames(video, times=[seconds / 2])[0][0]  # (3, H, W)
plots.grid_figure([("duet", [plots.array_image(frame.permute(1, 2, 0).numpy(), 2)]
                   + [plots.mask_image(m.float().flip(0), scale=2) for m in masks])],
                  col_titles=["frame", *record["categories"]])""",
    ),
    ("md", "## The model\n\nThe bundled release when present (and not tiny), else a tiny random model."),
    (
        "code",
        """from pixelsound import checkpoint
from pixelsound.config import AudioConfig, Config, FramesConfig, ModelConfig
from pixelsound.model import SoundOfPixels

if not TINY and (checkpoint.BUNDLED_MODEL / "config.json").is_file():
    model = checkpoint.load_model()
else:
    cfg = Config(audio=AudioConfig(sample_rate=8000, length=8191, n_fft=254, hop=64, log_bins=64),
                 frames=FramesConfig(num_frames=2, size=64),
                 model=ModelConfig(k=8, frame_layers=2, frame_width=8, unet_depth=3, unet_channels=8))
    model = SoundOfPixels(cfg).eval()
print(model.cfg.audio, model.cfg.model.k)""",
    ),
    (
        "md",
        """## Per-pixel separation

`pixels()` reads the video in overlapping chunks (the model's window), runs the frame and audio nets once per
chunk, makes the masks of **all** cells with one einsum, and keeps every cell's sound for the listening page,
every cell's energy over time and frequency (heatmaps, objects) and the per-chunk features (any region's
sound later).""",
    ),
    (
        "code",
        """options = pixels.PixelsOptions(grid=(8, 8) if TINY else (14, 14), page_seconds=seconds)
result = pixels.pixels(video, model, options=options, progress=False)
print("grid", result.grid, "| chunks", len(result.chunks), "| every cell's sound", tuple(result.cells.shape))
plots.array_image(plots.overlay_heatmap(frame, result.heatmap(), alpha=0.6, vmin=0, vmax=1), 2)""",
    ),
    ("md", "The synthesizer in its per-pixel form equals the clip form applied to each cell's vector:"),
    (
        "code",
        """chunk = result.chunks[0]
with torch.no_grad():
    every = cells.cell_masks(model, chunk.visual, chunk.audio)  # (h, w, F, T), one einsum
    one = torch.sigmoid(model.synthesize(chunk.visual[:, 2, 3][None, None], chunk.audio[None]))[0, 0]
print(tuple(every.shape), "max difference for cell (2, 3):", float((every[2, 3] - one).abs().max()))""",
    ),
    ("md", "## Listen: a cell on the left instrument, one on the right"),
    (
        "code",
        """h, w = result.grid
def best_cell(mask):
    share = localization.mask_on_grid(mask, result.grid)
    index = int(share.flatten().argmax())
    return index // w, index % w

for name, mask, stem in zip(record["categories"], masks, stems):
    row, col = best_cell(mask)
    sound = result.cell_audio(row, col)
    n = min(len(sound), len(stem))
    corr = torch.corrcoef(torch.stack([sound[:n], stem[:n]]))[0, 1]
    print(f"{name}: cell ({row}, {col}), correlation with its stem {float(corr):.2f}")
    display(Audio(sound.numpy(), rate=result.sample_rate))""",
    ),
    (
        "md",
        """## Sounding objects

Cells whose sounds are alike (cosine similarity of their energy over bands and time) are grouped; groups that
carry energy become objects with a region, a sound and a heatmap.""",
    ),
    (
        "code",
        """pictures = []
for o in result.objects:
    print(f"object {o.index + 1}: {int(o.region.sum())} cells, {100 * o.energy_share:.0f}% of the energy, "
          f"centre {o.centroid}, category {o.category}")
    display(Audio(o.audio.numpy(), rate=result.sample_rate))
    pictures.append(plots.array_image(plots.overlay_heatmap(frame, o.heatmap, alpha=0.6, vmin=0, vmax=1), 2))
plots.grid_figure([("objects", pictures)]) if pictures else None""",
    ),
    (
        "md",
        """## Localization and separation scores on this duet

cIoU (DSOL: heatmap above 0.2 x its max against the instrument's mask, objects matched to instruments), the
LVS-style cIoU of the overall heatmap, and the SDR of the sound made from each instrument's true region.""",
    ),
    (
        "code",
        """n = min(len(s) for s in stems)
scores = localization.duet_scores(result, masks, torch.stack([s[:n] for s in stems]))
{k: v for k, v in scores.items() if k != "ciou_per_instrument"}""",
    ),
    (
        "md",
        """## Everything the `pixels` verb writes

Object wavs, the overlay video, heatmap PNGs, `pixels.json` and `index.html` (open it and click).""",
    ),
    (
        "code",
        """facts = result.write(WORK / "pixels_out")
for path in sorted((WORK / "pixels_out").rglob("*")):
    if path.is_file():
        print(f"{path.relative_to(WORK)}  {path.stat().st_size / 1024:.0f} KB")""",
    ),
]


def build() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in CELLS]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


if __name__ == "__main__":
    path = Path(__file__).with_name("per_pixel.ipynb")
    nbformat.write(build(), path)
    print("wrote", path)
