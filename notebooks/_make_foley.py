"""Build notebooks/foley.ipynb (a silent clip -> a dubbed mp4, stems and an editable cue sheet) with nbformat.

.venv/bin/python notebooks/_make_foley.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    (
        "md",
        """# Foley: a soundtrack for a silent video

`pixelsound foley` gives a silent (e.g. generated) clip a layered stereo soundtrack from what it sees, on a
CPU and without gigabytes of weights, and hands back **stems** and an **editable cue sheet**:

1. *detect*: things that move (regions), when they hit or start moving (events), where they are (pan), how
   big they look (gain), the room and an ambience bed (from the scene);
2. *choose sounds*: snippets a model learned from unlabeled video (a sound bank), or procedural impacts by
   modal synthesis (material, size, impact speed); a procedural, seamless ambience bed (room tone, wind,
   rain, rumble, crowd, chirps, water); spoken lines (`--say "TEXT@SECONDS"`, espeak-ng);
3. *layer*: constant-power pan, a shared room reverb, the bed under the objects, everything ducked while the
   voice speaks, loudness to -16 LUFS with peaks under -1 dBTP.

This notebook dubs a generated bouncing-ball clip whose true hit times are known, looks at the cue sheet,
edits it and renders again. With `PIXELSOUND_NOTEBOOK_TINY=1` (as the tests run it) the clip is small and
short.""",
    ),
    (
        "code",
        """import json, os, tempfile
from pathlib import Path

import numpy as np
import torch
from IPython.display import Audio, Image, display

from pixelsound import bounce, foley, io, modal, onsets, plots, soundtrack
from pixelsound.index import read_index

TINY = os.environ.get("PIXELSOUND_NOTEBOOK_TINY") == "1"
WORK = Path(os.environ.get("PIXELSOUND_NOTEBOOK_DIR") or tempfile.mkdtemp(prefix="foley_"))
SR = 22050 if TINY else 44100
print("tiny:", TINY, "| writing under", WORK)""",
    ),
    (
        "md",
        """## 1. A silent clip with a known soundtrack

`pixelsound data bounce` draws balls of different materials bouncing in a scene (studio, living room, hall,
park). The motion is solved in closed form, so every floor hit has an exact time; the true soundtrack (a
modal impact at every hit) is kept aside and the video has no audio stream.""",
    ),
    (
        "code",
        """index = bounce.build_bounce(WORK / "bounce", 3, seed=4, seconds=3.0 if TINY else 6.0,
                           size=128 if TINY else 224, sample_rate=SR, max_balls=1 if TINY else 2)
record = max(read_index(index), key=lambda r: len(json.loads((index.parent / r["sidecar"]).read_text())["onsets"]))
side = json.loads((index.parent / record["sidecar"]).read_text())
silent = Path(record["path"])
print(silent.name, "| audio stream:", io.probe(silent).has_audio, "| room:", side["room"])
for ball in side["objects"]:
    print(f"  {ball['material']:8s} {ball['side']:6s} hits at", [round(t, 2) for t in ball["onsets"]])
frames, _ = io.read_frames(silent, times=[0.5, 1.0, 1.5, 2.0])
strip = torch.cat(list(frames), dim=2).permute(1, 2, 0).numpy()
from PIL import Image as PILImage
PILImage.fromarray(strip).save(WORK / "frames.png")
display(Image(filename=str(WORK / "frames.png")))""",
    ),
    (
        "md",
        """## 2. Dub it

No model and no bank here: the procedural path. Each ball's material is guessed from its colour and its
size from its box; every impact (a sharp change of velocity of the tracked ball) becomes a modal hit whose
strength follows the estimated impact speed. The scene picks an ambience bed, and one spoken line is added
(`pixelsound foley make SILENT.mp4 -o OUT.mp4 --say "Here comes the ball@0.5"` on the command line).""",
    ),
    (
        "code",
        """line = {"text": "Here comes the ball", "start": 0.5}
result = foley.foley(silent, WORK / "dubbed.mp4", config=foley.FoleyConfig(sample_rate=SR), say=[line])
print(f"{result.loudness:.1f} LUFS, true peak {result.true_peak:.1f} dBTP, room {result.cues['room']}")
print("scene:", result.cues["scene"], "-> ambience", result.cues["ambience"]["name"])
print("voice line spoken from {:.2f} to {:.2f} s".format(*result.spans[0]))
print("seconds:", result.seconds)
events = sorted(e["time"] for o in result.cues["objects"] for e in o["events"])
match = onsets.f_measure(side["onsets"], events, tolerance_ms=50)
print(f"events vs true hits: F1 {match.f1:.2f} (precision {match.precision:.2f}, recall {match.recall:.2f})")
print("written:", sorted(p.name for p in WORK.iterdir()), sorted(p.name for p in (WORK / "dubbed_stems").iterdir()))
display(Audio(result.audio.numpy(), rate=SR))""",
    ),
    (
        "md",
        """## 3. The cue sheet

`dubbed.cues.json` (named after the output) says what was found and what was chosen: per object its region,
pan, gain, sound (here `modal` with a material and a size) and its events (time, strength); the ambience bed
and its parameters, the voice lines and the ducking. It is meant to be edited; `pixelsound.cues` documents
its schema and checks a whole sheet before anything is rendered.""",
    ),
    (
        "code",
        """cues = json.loads((WORK / "dubbed.cues.json").read_text())
text = (WORK / "dubbed.cues.json").read_text()
print(text[:1200], "...")
print(text[text.index('"ambience"'):])""",
    ),
    (
        "md",
        """## 4. Edit and render again

Make the first ball metal, pan it hard left, add a hit half a second after its first one, move the whole
scene to a hall, swap the ambience for rain and say the line a second later; then `pixelsound foley render
edited.json -o OUT.mp4` (here, its Python form).""",
    ),
    (
        "code",
        """first = cues["objects"][0]
first["sound"]["material"], first["pan"] = "metal", -1.0
t0 = first["events"][0]["time"] if first["events"] else 0.5
first["events"].append({"time": round(t0 + 0.5, 3), "strength": 0.8})
cues["room"] = "hall"
cues["ambience"] = {"name": "rain", "params": {"density": 0.8}}
cues["voice"][0]["start"] = 1.5
(WORK / "edited.json").write_text(soundtrack.dump_cues(cues))
edited = foley.render(WORK / "edited.json")
edited.write(WORK / "edited.mp4", write_cues=False)
left, right = edited.stems[0].pow(2).sum(1).tolist()
print(f"object 0 energy left/right: {left:.3f} / {right:.3f}")
print("stems:", sorted(p.name for p in (WORK / "edited_stems").iterdir()))
print("voice line now from {:.2f} to {:.2f} s".format(*edited.spans[0]))
duck = 20 * torch.log10(edited.duck)
print(f"ducking: {float(duck.min()):.1f} dB while the voice speaks, {float(duck[: SR // 2].max()):.1f} dB before")
display(Audio(edited.audio.numpy(), rate=SR))""",
    ),
    (
        "md",
        """## 5. Look: spectrograms of the true, dubbed and edited soundtracks

The dubbed and edited soundtracks carry the ambience bed (a floor of noise) and the voice (harmonics at the
line's time) besides the hits.""",
    ),
    (
        "code",
        """from pixelsound import spec
truth = io.read_audio(index.parent / record["soundtrack"], SR)[0]
waves = [("true", truth), ("foley", result.audio.mean(0)), ("edited", edited.audio.mean(0))]
mags = [spec.stft(w, 1024, 256).abs()[:200] for _, w in waves]  # (F, T) up to ~4-9 kHz
top = max(float(m.max()) for m in mags)
figure = plots.grid_figure([("", [plots.spectrogram_image(m, ref=top, db_range=70) for m in mags])],
                           col_titles=[n for n, _ in waves], title="spectrograms (dB)")
plots.save_png(figure, WORK / "spectrograms.png")
display(Image(filename=str(WORK / "spectrograms.png")))""",
    ),
    (
        "md",
        """## With a model and a sound bank

With a trained model, `pixelsound bank build INDEX --model M -o bank/` separates training videos and keeps,
per visual prototype, event-aligned snippets of what each thing sounds like; `pixelsound foley make SILENT.mp4
-o OUT.mp4 --bank bank/` then gives each detected object the snippets of the prototype its look matches
(and its category), and falls back to modal synthesis where nothing in the bank fits.""",
    ),
]


def main() -> None:
    cells = [new_markdown_cell(text) if kind == "md" else new_code_cell(text) for kind, text in CELLS]
    notebook = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )
    nbformat.write(notebook, Path(__file__).with_name("foley.ipynb"))


if __name__ == "__main__":
    main()
