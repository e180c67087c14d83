"""Build notebooks/scoring.ipynb (score a silent clip and candidate soundtracks) with nbformat.

.venv/bin/python notebooks/_make_scoring.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    (
        "md",
        """# Scoring soundtracks: what sounds, does this audio belong, is it in sync

`pixelsound score` rates a clip and any number of candidate soundtracks without gigabytes of weights:

* for the clip alone, a **sounding map** (where things move, and where the frame net sees sound-makers when a
  model is given) and the **sounding objects** (regions that move together);
* for each soundtrack, a **correspondence** score (does its rhythm follow the motion, at any alignment; with
  a model, also how much of its energy the separator gives to this clip), a **sync** score (audio onsets
  matched one-to-one to motion events, precision / recall / F1) and the **offset** in ms.

This notebook scores a silent generated clip against its true soundtrack, a wrong one and shifted copies,
then scores the soundtrack `pixelsound foley` makes for it.
With `PIXELSOUND_NOTEBOOK_TINY=1` (as the tests run it) the clip is small and short and the model a tiny
random one (its attribution is meaningless; motion and onsets do the work).""",
    ),
    (
        "code",
        """import os, tempfile
from pathlib import Path

import numpy as np
import torch
from IPython.display import Audio, display
from PIL import ImageDraw

from pixelsound import builder, io, motion, onsets, plots, score, scorecard, sync
from pixelsound.clip import FileClip
from pixelsound.pictures import TRAIN_STYLES

TINY = os.environ.get("PIXELSOUND_NOTEBOOK_TINY") == "1"
WORK = Path(os.environ.get("PIXELSOUND_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="scoring_"))
torch.manual_seed(0)
print("tiny:", TINY, "| writing under", WORK)""",
    ),
    (
        "md",
        """## Two silent clips with their true soundtracks

The instruments builder makes silent clips and keeps their soundtracks aside: an instrument that moves on
every note onset. We make two, a violin and a drum; the drum's soundtrack will be the wrong candidate.""",
    ),
    (
        "code",
        """size, seconds = (64, 3.0) if TINY else (224, 8.0)
build = builder.BuildConfig(out=WORK / "clips", clips=2, size=size, seconds=seconds, sample_rate=22050)
records = [
    builder.make_clip(builder.ClipPlan(i, "solo", True, "silent_test", TRAIN_STYLES[0], (name,)), build)
    for i, name in enumerate(["violin", "drum"])
]
video = records[0]["path"]
true_wav, other_wav = (build.out / r["soundtrack"] for r in records)
info = io.probe(video)
print(video, "| audio:", info.has_audio, "|", info.num_frames, "frames at", info.fps, "fps")
display(Audio(str(true_wav)))""",
    ),
    (
        "md",
        """## The model

The bundled release when present (and not tiny); in tiny mode a random tiny release written here, so the
model's code path runs. Without any model, `score` works on motion and onsets alone (`model="none"`).""",
    ),
    (
        "code",
        """from pixelsound import attribution, checkpoint
from pixelsound.checkpoint import write_release
from pixelsound.config import AudioConfig, Config, FramesConfig, ModelConfig
from pixelsound.model import SoundOfPixels

if not TINY and (checkpoint.BUNDLED_MODEL / "config.json").is_file():
    MODEL = attribution.scoring_model()
else:
    cfg = Config(audio=AudioConfig(sample_rate=8000, length=8191, n_fft=254, hop=64, log_bins=64),
                 frames=FramesConfig(num_frames=2, size=64),
                 model=ModelConfig(k=8, frame_layers=2, frame_width=8, unet_depth=3, unet_channels=8))
    MODEL = attribution.scoring_model(write_release(WORK / "tiny_model", SoundOfPixels(cfg), cfg))
print("model:", MODEL.name)""",
    ),
    (
        "md",
        """## The silent clip: sounding map and objects

Motion energy per cell (frame differences), combined with the frame net's per-pixel activity, says how
likely each region is to make sound. Cells that are active and move together form the objects.""",
    ),
    (
        "code",
        """silent = score.score(video, model=MODEL)
print(scorecard.format_result(silent))

frame = io.read_frames(video, times=[seconds / 2])[0][0]  # (3, H, W)
overlay = plots.array_image(plots.overlay_heatmap(frame, silent.sounding_map, alpha=0.55), 2)
draw = ImageDraw.Draw(overlay)
for obj in silent.regions:
    draw.rectangle([2 * c for c in obj.box], outline="cyan", width=2)
figure = plots.grid_figure([("clip", [plots.array_image(frame.permute(1, 2, 0).numpy(), 2), overlay])],
                           col_titles=["frame", "map + objects"])
plots.save_png(figure, WORK / "sounding_map.png")
figure""",
    ),
    (
        "md",
        """## Candidate soundtracks

The true soundtrack, the drum clip's soundtrack, and the true one delayed by 250 ms and advanced by 700 ms.
Candidates come back ranked, best first, with each sub-score: the wrong track loses on correspondence and
sync, the shifted ones keep their correspondence (same rhythm) but lose sync, and their offsets are found.""",
    ),
    (
        "code",
        """sr = 22050
wave = io.read_audio(true_wav, sr)[0]

def shifted(w, seconds):
    n, out = int(round(seconds * sr)), torch.zeros_like(w)
    if n >= 0:
        out[n:] = w[: len(w) - n]
    else:
        out[:n] = w[-n:]
    return out

candidates = [true_wav, other_wav]
for name, lag in [("late_250ms.wav", 0.25), ("early_700ms.wav", -0.7)]:
    io.write_audio(WORK / name, shifted(wave, lag)[None], sr)
    candidates.append(WORK / name)
result = score.score(video, candidates, model=MODEL)
print(scorecard.format_result(result))""",
    ),
    (
        "md",
        """## How the offset is found

The audio's onset envelope (spectral flux) is summed over each video frame's interval, shifted by every lag
in ±2 s, and correlated with the motion curve (its rise: where movement starts). The peak, refined by a
parabola, is the offset. Here for the candidate that comes 700 ms early.""",
    ),
    (
        "code",
        """clip = score.motion_clip(FileClip(video))
curve = motion.onset_curve(motion.motion_curve(clip.frames, clip.fps))
env = onsets.onset_envelope(shifted(wave, -0.7), sr)
lags, corr = sync.curve_lag_sweep(curve, clip.fps, env, t0=clip.t0)
offset_ms, peak = sync.curve_offset(curve, clip.fps, env, t0=clip.t0)

chart = plots.Image.new("RGB", (420, 180), "white")
pen = ImageDraw.Draw(chart)
xs = 10 + (lags - lags[0]) / (lags[-1] - lags[0]) * 400
ys = 170 - 145 * (corr - corr.min()) / max(np.ptp(corr), 1e-9)
pen.line(list(zip(xs.tolist(), ys.tolist())), fill="black", width=1)
pen.line([(210, 22), (210, 175)], fill="grey")  # lag 0
best = 10 + (offset_ms / 1000 - lags[0]) / (lags[-1] - lags[0]) * 400
pen.line([(best, 22), (best, 175)], fill="red")
pen.text((12, 4), f"correlation vs lag (-2 .. +2 s); peak {offset_ms:+.0f} ms (r = {peak:.2f})", fill="black")
plots.save_png(chart, WORK / "lag_sweep.png")
chart""",
    ),
    (
        "md",
        """## Scoring a Foley soundtrack

The natural use: `pixelsound foley` gives the silent clip a soundtrack from what it sees (sounds timed to
the motion it detects), and `score` checks it -- against the clip's true soundtrack and the wrong one. A
Foley track made from this clip's own motion should be in sync (sync F1 close to the true soundtrack's,
offset near 0) and follow its rhythm.""",
    ),
    (
        "code",
        """from pixelsound.foley import foley

dubbed = WORK / "dubbed.mp4"
made = foley(video, dubbed)
print(f"foley: {made.loudness:.1f} LUFS, stages {made.seconds}")
checked = score.score(dubbed, [true_wav, other_wav], model=MODEL)
text = scorecard.format_result(checked)
print(text[text.index("soundtracks, best first"):])  # "own soundtrack" is the Foley one
display(Audio(made.audio.numpy(), rate=made.sample_rate))""",
    ),
    (
        "md",
        """## Batch mode

`pixelsound score DIR --csv scores.csv` scores every video under a folder (its own soundtrack when it has one,
plus any `--audio` candidates); a broken file becomes a row with its error, never a crash.""",
    ),
    (
        "code",
        """from pixelsound import cli

(WORK / "clips" / "silent" / "broken.mp4").write_text("not a video")
cli.main(["score", str(WORK / "clips" / "silent"), "--audio", str(true_wav), "--model", "none",
          "--csv", str(WORK / "scores.csv")])
print((WORK / "scores.csv").read_text())""",
    ),
]


def build() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in CELLS]
    for i, cell in enumerate(cells):
        cell["id"] = f"scoring-{i:02d}"  # stable ids: rebuilding gives the same file
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


if __name__ == "__main__":
    out = Path(__file__).with_name("scoring.ipynb")
    nbformat.write(build(), out)
    print("wrote", out)
