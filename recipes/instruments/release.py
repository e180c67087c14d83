"""Stage 4 of the instruments recipe: put the trained model and two test clips where `pixelsound demo` looks.

    python recipes/instruments/release.py --run runs/instruments --data data/instruments

Copies ``RUN/best`` (model.safetensors + config.json, the weights stored as float16) to
``pixelsound/assets/model``, adds category prototypes (the mean clip vector of 40 training clips per
category: names for what `pixels` and `foley` find; the model itself never saw a label), and copies two
equally loud test solos of different instrument families (test split: never seen in training) to
``pixelsound/assets/samples``.
"""

import argparse
import json
import math
import shutil
from pathlib import Path

from pixelsound.checkpoint import load_release, write_release
from pixelsound.index import read_index
from pixelsound.instruments import CATEGORIES, instrument
from pixelsound.io import read_audio
from pixelsound.objects import prototypes_from_index

ASSETS = Path(__file__).resolve().parents[2] / "pixelsound" / "assets"


def _family(record: dict) -> str | None:
    name = record.get("category")
    return instrument(name).kind if name in CATEGORIES else None


def pick_samples(index: Path, candidates: int = 48) -> list[Path]:
    """Two test clips of different instrument families whose soundtracks are about equally loud.

    Among the first ``candidates`` clips of the index (deterministic order), pairs of different families
    (melodic, drums, shaker: a duet of the kind the Sound of Pixels demos show) compete and the one with the
    smallest loudness ratio wins, so neither clip drowns the other in the demo's mixture. The rule never looks
    at how well the model separates a pair.
    """
    records = read_index(index)[:candidates]
    rms = [float(read_audio(r["path"], 8000)[0].pow(2).mean().sqrt()) for r in records]
    pairs = [
        (abs(math.log(rms[i] / rms[j])), i, j)
        for i in range(len(records))
        for j in range(i + 1, len(records))
        if _family(records[i]) != _family(records[j]) and min(rms[i], rms[j]) > 0
    ]
    if not pairs:
        raise SystemExit(f"{index}: no two clips of different instrument families")
    _, i, j = min(pairs)
    return [Path(records[i]["path"]), Path(records[j]["path"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/instruments")
    parser.add_argument("--data", default="data/instruments")
    args = parser.parse_args()
    best = Path(args.run) / "best"
    model, cfg = load_release(best)  # refuse to ship something that does not load
    info = json.loads((best / "config.json").read_text()).get("info", {})
    prototypes = prototypes_from_index(Path(args.data) / "train.jsonl", model.eval(), per_category=40)
    info["prototypes"] = {name: [round(float(x), 5) for x in v] for name, v in sorted(prototypes.items())}
    model_dir, sample_dir = ASSETS / "model", ASSETS / "samples"
    shutil.rmtree(model_dir, ignore_errors=True)
    write_release(model_dir, model, cfg, info, half=True)  # float16: half the size, the same SDR
    shutil.rmtree(sample_dir, ignore_errors=True)
    sample_dir.mkdir(parents=True)
    for path in pick_samples(Path(args.data) / "test.jsonl"):
        shutil.copy2(path, sample_dir / path.name)
    print(f"released {best} -> {model_dir}; samples: {sorted(p.name for p in sample_dir.iterdir())}")


if __name__ == "__main__":
    main()
