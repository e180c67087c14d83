"""Stage 4 of the instruments recipe: put the trained model and two test clips where `pixelsound demo` looks.

    python recipes/instruments/release.py --run runs/instruments --data data/instruments

Copies ``RUN/best`` (model.safetensors + config.json) to ``pixelsound/assets/model``, adds category
prototypes (the mean clip vector of a few training clips per category: names for what `pixels` and `foley`
find; the model itself never saw a label), and copies the first two test solos of different categories
(test split: never seen in training) to ``pixelsound/assets/samples``.
"""

import argparse
import json
import shutil
from pathlib import Path

from pixelsound.checkpoint import load_release, write_release
from pixelsound.index import read_index
from pixelsound.objects import prototypes_from_index

ASSETS = Path(__file__).resolve().parents[2] / "pixelsound" / "assets"


def pick_samples(index: Path, count: int = 2) -> list[Path]:
    """The first ``count`` clips of the index with distinct categories (index order is deterministic)."""
    chosen, seen = [], set()
    for record in read_index(index):
        if record.get("category") not in seen:
            seen.add(record.get("category"))
            chosen.append(Path(record["path"]))
        if len(chosen) == count:
            return chosen
    raise SystemExit(f"{index}: fewer than {count} categories")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/instruments")
    parser.add_argument("--data", default="data/instruments")
    args = parser.parse_args()
    best = Path(args.run) / "best"
    model, cfg = load_release(best)  # refuse to ship something that does not load
    info = json.loads((best / "config.json").read_text()).get("info", {})
    prototypes = prototypes_from_index(Path(args.data) / "train.jsonl", model.eval())
    info["prototypes"] = {name: [round(float(x), 5) for x in v] for name, v in sorted(prototypes.items())}
    model_dir, sample_dir = ASSETS / "model", ASSETS / "samples"
    shutil.rmtree(model_dir, ignore_errors=True)
    write_release(model_dir, model, cfg, info)
    shutil.rmtree(sample_dir, ignore_errors=True)
    sample_dir.mkdir(parents=True)
    for path in pick_samples(Path(args.data) / "test.jsonl"):
        shutil.copy2(path, sample_dir / path.name)
    print(f"released {best} -> {model_dir}; samples: {sorted(p.name for p in sample_dir.iterdir())}")


if __name__ == "__main__":
    main()
