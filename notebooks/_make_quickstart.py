"""Build notebooks/quickstart.ipynb (data -> train -> separate -> listen -> look) with nbformat.

.venv/bin/python notebooks/_make_quickstart.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    ("md", """# pixelsound quickstart: separate sounds by looking

Mix-and-separate in five steps: build a small instruments data set, train a Sound-of-Pixels model on it
(no labels: the model only ever sees mixtures of two clips and each clip's frames), separate a mixture of two
test clips, listen, and look at the spectrograms.

With `PIXELSOUND_NOTEBOOK_TINY=1` (as the tests run it) everything is tiny and the model trains for a few
steps only, so the separation is poor: the mechanics are the same. Without it, the data set and training
are larger (minutes on a laptop), and the last cell compares with the bundled model."""),
    ("code", """import os, tempfile
from pathlib import Path

import torch
from IPython.display import Audio, Image, display

import pixelsound
from pixelsound import builder, metrics, plots
from pixelsound.config import load_config
from pixelsound.index import read_index
from pixelsound.separate import separate
from pixelsound.train import train

TINY = os.environ.get("PIXELSOUND_NOTEBOOK_TINY") == "1"
WORK = Path(os.environ.get("PIXELSOUND_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="quickstart_"))
ROOT = Path(pixelsound.__file__).resolve().parents[1]
torch.manual_seed(0)
print("tiny:", TINY, "| writing under", WORK)"""),
    ("md", """## 1. Data

Real sampled instruments (the FluidR3 GM soundfont) drawn as emoji in several styles, each bouncing on its
note onsets. The builder writes mp4 clips, JSON sidecars and one index per split."""),
    ("code", """report = builder.build(builder.BuildConfig(
    out=WORK / "data", clips=40 if TINY else 300, seed=0, workers=1 if TINY else 2,
    size=64 if TINY else 224, seconds=3.0 if TINY else 8.0,
))
train_records = read_index(report.indexes["train"])
print(report.counts, "| categories:", sorted({r["category"] for r in train_records}))"""),
    ("md", """## 2. Train by mix-and-separate

The CPU preset (`recipes/presets/cpu.toml`) with the data set's indexes. Every step mixes two clips of
different videos and learns to pull each one back out given its frames."""),
    ("code", """overrides = [
    f"data.train_index={report.indexes['train']}", f"data.val_index={report.indexes['val']}",
    f"data.cache_dir={WORK / 'cache'}", f"train.out_dir={WORK / 'run'}", "train.val_mixes=8",
]
if TINY:
    overrides += ["audio.length=4095", "frames.size=32", "model.k=4", "model.unet_depth=2",
                  "model.unet_channels=8", "model.frame_width=8", "model.frame_layers=2",
                  "train.batch_size=2", "train.epochs=1", "train.steps_per_epoch=3"]
else:
    overrides += ["train.max_minutes=10", "train.epochs=100", "train.steps_per_epoch=200"]
cfg = load_config(ROOT / "recipes/presets/cpu.toml", overrides)
result = train(cfg)
print(result)"""),
    ("md", """## 3. Separate two test clips

`separate` mixes the clips' soundtracks and separates each clip's sound using its own frames."""),
    ("code", """tests = read_index(report.indexes["test"]) or read_index(report.indexes["val"])
pair, seen = [], set()
for record in tests:
    if record["category"] not in seen:
        seen.add(record["category"]); pair.append(record["path"])
pair = pair[:2]
sep = separate(pair, WORK / "run" / "best")
sep.write(WORK / "separated")
from pixelsound.io import read_audio
truth = torch.stack([read_audio(p, sep.sample_rate)[0, : sep.mix.shape[-1]] for p in pair])
scores = metrics.bss_eval(truth, sep.sources, compute_permutation=False)
print("clips:", [Path(p).stem for p in pair])
print("SDR (dB):", scores["sdr"].round(2), "| mixture:", metrics.bss_eval(truth, sep.mix.expand_as(truth), False)["sdr"].round(2))"""),
    ("md", """## 4. Listen"""),
    ("code", """display(Audio(sep.mix.numpy(), rate=sep.sample_rate))
for name, wave in zip(sep.names, sep.sources):
    print(name); display(Audio(wave.numpy(), rate=sep.sample_rate))"""),
    ("md", """## 5. Look: mixture, truth and estimate spectrograms"""),
    ("code", """from pixelsound.demo import spectrogram_figure
figure = spectrogram_figure(sep, truth, cfg)
plots.save_png(figure, WORK / "spectrograms.png")
display(Image(filename=str(WORK / "spectrograms.png")))"""),
    ("md", """## The bundled model

`pixelsound demo` does the same with the model trained by `recipes/instruments` (60 minutes on 2 CPU
cores) on two test clips shipped with the package."""),
    ("code", """from pixelsound.demo import MODEL
if not TINY and (MODEL / "config.json").exists():
    from pixelsound.demo import demo
    r = demo(out=WORK / "demo")
    print("bundled model SDR (dB):", [round(x, 2) for x in r.sdr])"""),
]


def main() -> None:
    cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in CELLS]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    nbformat.write(notebook, Path(__file__).with_name("quickstart.ipynb"))


if __name__ == "__main__":
    main()
