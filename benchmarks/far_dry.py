"""Diagnostic: the far split's sound without its rooms, microphones and noise (csound's timbres, dry).

    .venv/bin/python benchmarks/far_dry.py --out data/far_dry
    .venv/bin/pixelsound evaluate pixelsound/assets/model data/far_dry/far_audio.jsonl --mixes 2 --count 200

Builds 200 solos of the ``far_audio`` world (far sound source, training picture libraries) with
``rooms.colour`` replaced by the dry sound, so that the far sound's loss splits into what its timbres and
playing cost and what its recording conditions cost. A diagnostic, not a world of the builder: nothing
trains on it. Results: ``recipes/instruments/RESULTS.md``.
"""

import argparse

from pixelsound import builder, rooms


def dry(audio, rng, sample_rate, how, simulated=False):
    """``rooms.colour``'s signature and its three draws, but the sound stays dry."""
    rng.random(3)
    return audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/far_dry")
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seed", type=int, default=300)
    args = parser.parse_args()
    rooms.colour = dry
    cfg = builder.BuildConfig(
        out=args.out, clips=args.clips, seed=args.seed, workers=1, duet_fraction=0.0, silent_fraction=0.0,
        world="far_audio",
    )  # fmt: skip
    print(builder.build(cfg).counts)


if __name__ == "__main__":
    main()
