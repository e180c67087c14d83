"""`pixelsound VERB ...`: a thin argparse layer; each verb lives in the module that does the work.

Each verb module defines ``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only for the
verb being run, so ``pixelsound index`` does not pay for importing the model code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# verb -> (module, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "demo": ("pixelsound.demo", "separate the bundled sample mixture with the bundled model"),
    "index": ("pixelsound.index", "probe every video under a folder and write a JSON-lines index"),
    "data": ("pixelsound.builder", "build a data set (e.g. `data instruments`)"),
    "train": ("pixelsound.train", "mix-and-separate training from a recipe"),
    "adapt": ("pixelsound.adapt", "fine-tune a model on a folder of your own videos (no labels needed)"),
    "evaluate": ("pixelsound.evaluate", "SDR/SIR/SAR of a model against mixture and oracle masks"),
    "separate": ("pixelsound.separate", "separate the sounds of videos with a trained model"),
    "pixels": ("pixelsound.pixels", "the sound of every pixel: objects, heatmaps, a click-to-listen page"),
    "bank": ("pixelsound.bank", "build a sound bank from separated training videos (`bank build`)"),
    "foley": (
        "pixelsound.foley",
        "give a silent video a layered soundtrack (`foley render` re-renders cues)",
    ),
    "score": ("pixelsound.score", "score silent clips and candidate soundtracks: sounding map, match, sync"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelsound", description="Learn what things sound like from video."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_, text) in VERBS.items():
        sub.add_parser(verb, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("-v", "--verbose") for a in argv[:1])
    if verbose:
        argv = argv[1:]
    if not argv or argv[0] not in VERBS:
        _top_parser().parse_args(argv or ["--help"])
        return 2
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    verb, rest = argv[0], argv[1:]
    module = importlib.import_module(VERBS[verb][0])
    parser = argparse.ArgumentParser(prog=f"pixelsound {verb}", description=VERBS[verb][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
