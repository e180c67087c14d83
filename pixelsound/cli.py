"""`pixelsound VERB ...`: a thin argparse layer; each verb lives in the module that does the work.

Each verb module defines ``add_arguments(parser)`` and ``run(args) -> int``; a verb with sub-verbs
(``foley render``, ``bank build``, ``data instruments``) adds argparse subparsers there, and may name a
default sub-verb for a first word that is a file (``foley SILENT.mp4`` is ``foley make SILENT.mp4``).
Errors reach :func:`main`, which gives every verb one style (:mod:`pixelsound.errors`): one line
``pixelsound VERB: error: WHAT: WHY`` and a documented exit code. Modules are imported only for the verb
being run, so ``pixelsound index`` does not pay for importing the model code.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from pixelsound import __version__
from pixelsound.errors import (
    EXIT_CODES,
    EXIT_INPUT,
    EXIT_INTERRUPT,
    EXIT_PIPE,
    EXIT_TERMINATED,
    EXIT_USAGE,
    Terminated,
    UsageError,
    UserError,
    describe_os_error,
)

log = logging.getLogger("pixelsound")


@dataclass(frozen=True)
class Verb:
    """A verb: the module that runs it, one line of help, an example for its ``--help``, and the sub-verb a
    first word that is a file name stands for (None: sub-verbs, if any, must be named)."""

    module: str
    help: str
    example: str
    default_action: str | None = None


VERBS: dict[str, Verb] = {  # in the order of the package: data, training, applications
    "index": Verb(
        "pixelsound.index",
        "probe every video under a folder and write a JSON-lines index",
        "pixelsound index videos/ -o index.jsonl --split .8 .1 .1",
    ),
    "data": Verb(
        "pixelsound.builder",
        "build a data set (`data instruments`, `data bounce`)",
        "pixelsound data instruments --out data/instruments --clips 200",
    ),
    "train": Verb(
        "pixelsound.train",
        "mix-and-separate training from a recipe",
        "pixelsound train recipes/presets/cpu.toml --out runs/cpu --set train.max_minutes=10",
    ),
    "adapt": Verb(
        "pixelsound.adapt",
        "fine-tune a model on a folder of your own videos (no labels needed)",
        "pixelsound adapt my_videos/ --out mine/ --minutes 10      # then: --model mine/",
    ),
    "evaluate": Verb(
        "pixelsound.evaluate",
        "SDR/SIR/SAR of a model against mixture and oracle masks",
        "pixelsound evaluate runs/cpu/best data/instruments/index.test.jsonl --count 20",
    ),
    "separate": Verb(
        "pixelsound.separate",
        "separate the sounds of videos with a trained model (default: the bundled one)",
        "pixelsound separate a.mp4 b.mp4            # writes separated/a+b/mix.wav, 0_a.wav, 1_b.wav",
    ),
    "demo": Verb(
        "pixelsound.demo",
        "separate the bundled sample mixture with the bundled model",
        "pixelsound demo --out demo/",
    ),
    "pixels": Verb(
        "pixelsound.pixels",
        "the sound of every pixel: objects, heatmaps, a click-to-listen page",
        "pixelsound pixels duet.mp4 --out duet/      # then open duet/index.html",
    ),
    "bank": Verb(
        "pixelsound.bank",
        "build a sound bank from separated training videos (`bank build`, `bank show`)",
        "pixelsound bank build data/instruments/index.jsonl --model runs/cpu/best -o bank/",
    ),
    "foley": Verb(
        "pixelsound.foley",
        "give a silent video a layered soundtrack (`foley make`); re-render a cue sheet (`foley render`)",
        "pixelsound foley make silent.mp4 -o out.mp4\n"
        "  pixelsound foley silent.mp4 -o out.mp4       # the same, short\n"
        "  pixelsound foley render cues.json -o out.mp4",
        default_action="make",
    ),
    "score": Verb(
        "pixelsound.scorecard",
        "score silent clips and candidate soundtracks: sounding map, match, sync",
        "pixelsound score clip.mp4 --audio take1.wav take2.wav",
    ),
}

# logging flags, accepted before or after the verb (and after a sub-verb)
LOG_FLAGS = {
    "-v": logging.DEBUG,
    "--verbose": logging.DEBUG,
    "-q": logging.WARNING,
    "--quiet": logging.WARNING,
}


def _add_log_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks of errors")
    group.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelsound",
        description="Learn what things sound like from video. `pixelsound VERB --help` explains a verb.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pixelsound {__version__}")
    _add_log_flags(parser)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, verb in VERBS.items():
        sub.add_parser(name, help=verb.help, add_help=False)
    return parser


def _verb_parser(name: str, module: ModuleType) -> argparse.ArgumentParser:
    verb = VERBS[name]
    parser = argparse.ArgumentParser(
        prog=f"pixelsound {name}",
        description=verb.help,
        epilog=f"example:\n  {verb.example}\n\nexit codes: 0 done, 1 bad input, 2 bad command line, "
        "130 Ctrl-C, 143 SIGTERM (see `pixelsound --help`)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_log_flags(parser)
    module.add_arguments(parser)
    return parser


def split_log_flags(argv: list[str]) -> tuple[list[str], int]:
    """Take ``-v/--verbose`` and ``-q/--quiet`` out of ``argv`` wherever they stand (before ``--``).

    Returns:
        the other arguments in order, and the logging level (the last flag wins; INFO without one).
    """
    rest, level = [], logging.INFO
    for i, arg in enumerate(argv):
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in LOG_FLAGS:
            level = LOG_FLAGS[arg]
        else:
            rest.append(arg)
    return rest, level


class _Formatter(logging.Formatter):
    """INFO lines as the bare message; others as ``pixelsound VERB: warning: message`` (argparse's style)."""

    def __init__(self, prog: str) -> None:
        super().__init__("%(message)s")
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno == logging.INFO:
            return text
        where = f" {record.name}" if record.levelno < logging.INFO else ""
        return f"{self.prog}:{where} {record.levelname.lower()}: {text}"


_handler: logging.Handler | None = None  # the one this module installed (main may run several times)


def _setup_logging(prog: str, level: int) -> None:
    """Log to stderr in the CLI's style at ``level``, leaving other handlers (e.g. pytest's) alone."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(_Formatter(prog))
    root.addHandler(_handler)
    root.setLevel(level)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread (clean-up runs as for Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    pid = os.getpid()

    def handle(signum: int, frame: object) -> None:
        if os.getpid() != pid:  # a forked worker inherited this handler: end as SIGTERM means
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated

    old = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def check_device(device: str | None) -> None:
    """Refuse a ``--device`` this machine does not have, before any work (one line, not a torch traceback)."""
    if device is None or device in ("cpu", "auto"):
        return
    import torch  # here, not at the top: ~1.1 s that `pixelsound --help` / `--version` need not pay

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"--device {device}: not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA GPU is available on this machine; use --device cpu")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {device}: Apple MPS is not available on this machine; use --device cpu")


def _quiet_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so Python's exit flush does not complain."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _run_verb(name: str, argv: list[str], level: int) -> int:
    """Import the verb's module, parse its arguments and run it; every failure becomes one line and a code."""
    prog = f"pixelsound {name}"
    parser = None
    try:
        # the one verb's module only, on purpose: `import pixelsound.cli` takes ~20 ms, a verb module 1.2 s
        # (index) to 3.2 s (train), so `pixelsound --help` and light verbs do not pay for the model code
        module = importlib.import_module(VERBS[name].module)
        parser = _verb_parser(name, module)
        args = parser.parse_args(with_default_action(argv, parser, VERBS[name].default_action))
        check_device(getattr(args, "device", None))
        code = int(module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in Python's exit flush
        return code
    except UsageError as err:
        if parser is not None:
            parser.print_usage(sys.stderr)
        return _fail(prog, str(err), level, EXIT_USAGE)
    except (UserError, ValueError) as err:
        return _fail(prog, str(err), level, EXIT_INPUT)
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except OSError as err:
        return _fail(prog, describe_os_error(err), level, EXIT_INPUT)
    except Terminated:
        return _fail(prog, "terminated (SIGTERM)", level, EXIT_TERMINATED)
    except KeyboardInterrupt:
        return _fail(prog, "interrupted (Ctrl-C)", level, EXIT_INTERRUPT)


def with_default_action(argv: list[str], parser: argparse.ArgumentParser, action: str | None) -> list[str]:
    """``argv`` with the verb's default sub-verb in front when its first word is a file name rather than a
    sub-verb: ``foley SILENT.mp4 -o OUT.mp4`` reads as ``foley make SILENT.mp4 -o OUT.mp4``.

    A file name is a word with an extension or an existing path; any other word (``foley nonsense``) is left
    for argparse to refuse as an invalid choice.
    """
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if action is None or not argv or not subparsers:
        return argv
    word = argv[0]
    if word in subparsers[0].choices or word.startswith("-"):
        return argv
    return [action, *argv] if Path(word).suffix or Path(word).exists() else argv


def _fail(prog: str, message: str, level: int, code: int) -> int:
    """Print ``prog: error: message`` (with the traceback under --verbose) and return ``code``."""
    if level <= logging.DEBUG:
        traceback.print_exc()
    if _handler is None:  # logging not set up yet
        print(f"{prog}: error: {message}", file=sys.stderr)
    else:
        log.error("%s", message)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run ``pixelsound VERB ...`` and return the exit code (see :mod:`pixelsound.errors`)."""
    argv, level = split_log_flags(list(sys.argv[1:] if argv is None else argv))
    if not argv or argv[0] not in VERBS:
        parser = _top_parser()
        if not argv:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        parser.parse_args(argv)  # --help and --version exit 0 here; an unknown verb exits 2
        return EXIT_USAGE
    _setup_logging(f"pixelsound {argv[0]}", level)
    with _sigterm_raises():
        return _run_verb(argv[0], argv[1:], level)


if __name__ == "__main__":
    sys.exit(main())
