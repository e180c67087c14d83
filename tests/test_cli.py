"""The command line's conventions: one error style and exit code per kind of failure in every verb, signals,
a closed pipe, --version, help with examples, logging flags anywhere, sub-verbs as subparsers.

The unwritable output folders are paths under a regular file (``file/sub``): that refuses writes for root
too, where a folder without its write bit does not.
"""

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pixelsound import cli, errors, foley, io, scorecard
from pixelsound.checkpoint import write_release
from pixelsound.model import SoundOfPixels
from tiny import tiny_config

ROOT = Path(__file__).resolve().parents[1]
ONE_LINE = re.compile(r"^pixelsound \w+: error: .+$")


def clip(path: Path, seconds: float = 1.5, freq: float = 300.0, sr: int = 8000) -> Path:
    t = torch.arange(int(seconds * sr)) / sr
    audio = (0.3 * torch.sin(2 * math.pi * freq * t))[None]
    frames = torch.full((int(seconds * 8), 3, 32, 32), int(freq) % 256, dtype=torch.uint8)
    io.write_video(path, frames, 8, audio=audio, sr=sr)
    return path


@pytest.fixture
def files(tmp_path):
    """Two tiny clips, a tiny release, a regular file, and an index of the clips."""
    torch.manual_seed(0)
    cfg = tiny_config()
    write_release(tmp_path / "model", SoundOfPixels(cfg), cfg)
    (tmp_path / "clips").mkdir()
    a, b = clip(tmp_path / "clips" / "a.mp4", freq=220), clip(tmp_path / "clips" / "b.mp4", freq=500)
    plain = tmp_path / "plain.txt"
    plain.write_text("a file, not a folder\n")
    return {"a": a, "b": b, "model": tmp_path / "model", "file": plain, "clips": tmp_path / "clips"}


def error_line(capsys) -> str:
    """The one line on stderr (besides INFO lines), checked against the style; no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), err
    return lines[0]


def commands(f, out):
    """One command per verb that writes an output into ``out``."""
    a, b, model = str(f["a"]), str(f["b"]), str(f["model"])
    return {
        "separate": ["separate", a, b, "--model", model, "--out", str(out)],
        "pixels": ["pixels", a, "--model", model, "--out", str(out), "--page-seconds", "0.5", "--no-video"],
        "index": ["index", str(f["clips"]), "-o", str(out / "index.jsonl")],
        "score": ["score", str(f["clips"]), "--model", "none", "--csv", str(out / "s.csv")],
        "data": ["data", "bounce", "--out", str(out), "--clips", "1", "--seconds", "1"],
        "evaluate": ["evaluate", model, str(f["clips"] / "missing.jsonl"), "--out", str(out)],
    }


@pytest.mark.parametrize("verb", ["separate", "pixels", "index", "score", "data"])
def test_unwritable_output_is_one_line_and_exit_1(files, capsys, verb):
    out = files["file"] / "sub"  # under a regular file: no one can create it
    assert cli.main(commands(files, out)[verb]) == errors.EXIT_INPUT
    line = error_line(capsys)
    assert str(files["file"]) in line and "not a folder" in line


def test_out_naming_an_existing_file_and_missing_inputs(files, capsys):
    assert cli.main(["separate", str(files["a"]), str(files["b"]), "--out", str(files["file"])]) == 1
    assert error_line(capsys).endswith(f"{files['file']}: is a file; a folder is needed here")
    assert cli.main(["separate", str(files["a"]), str(files["a"].with_name("nope.mp4"))]) == 1
    assert "nope.mp4" in error_line(capsys)
    assert cli.main(commands(files, files["file"].parent / "ev")["evaluate"]) == 1
    assert "missing.jsonl" in error_line(capsys)


def test_usage_errors_exit_2_and_bad_values_exit_1(files, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["separate", "--overlap", "0.5"])  # no video: argparse
    assert stop.value.code == errors.EXIT_USAGE
    capsys.readouterr()
    assert cli.main(["separate", str(files["a"]), "--overlap", "2"]) == errors.EXIT_USAGE
    assert "--overlap must be in" in error_line(capsys)
    assert cli.main(["index", "-o", "x.jsonl"]) == errors.EXIT_USAGE
    assert "FOLDER or --from-sop-csv" in error_line(capsys)
    assert cli.main(["index", str(files["file"].parent / "nowhere"), "-o", "x.jsonl"]) == errors.EXIT_INPUT
    assert "nowhere: not a folder" in error_line(capsys)


def test_start_past_the_end_and_a_missing_gpu(files, capsys, monkeypatch):
    base = ["separate", str(files["a"]), str(files["b"]), "--model", str(files["model"])]
    assert cli.main([*base, "--start", "100", "--out", str(files["file"].parent / "o")]) == 1
    assert "a.mp4: start 100 s is past its end (1.50 s long)" in error_line(capsys)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main([*base, "--device", "cuda"]) == 1
    assert "--device cuda: no CUDA GPU is available" in error_line(capsys)
    assert cli.main([*base, "--device", "toaster"]) == 2
    assert "not a torch device" in error_line(capsys)


@pytest.mark.parametrize(
    "signum, code, words",
    [(signal.SIGINT, errors.EXIT_INTERRUPT, "interrupted (Ctrl-C)"), (signal.SIGTERM, 143, "terminated")],
)
def test_signals_give_one_line_and_128_plus_the_signal(files, capsys, monkeypatch, signum, code, words):
    def killed(*args, **kwargs):
        os.kill(os.getpid(), signum)  # a real signal, delivered while the verb works
        for _ in range(200):  # on a loaded machine it may reach the main thread a moment later
            time.sleep(0.05)
        raise AssertionError("the signal should have stopped the verb")

    monkeypatch.setattr(scorecard, "score", killed)
    before = signal.getsignal(signal.SIGTERM)
    # Ctrl-C as in a terminal: a job started in the background (`cmd &`) inherits SIGINT ignored
    interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert cli.main(["score", str(files["a"]), "--model", "none"]) == code == 128 + signum
    finally:
        signal.signal(signal.SIGINT, interrupt)
    assert words in error_line(capsys)
    assert signal.getsignal(signal.SIGTERM) == before  # the CLI's handler is gone again


def test_a_closed_pipe_is_a_quiet_exit(files):
    # `true` exits at once, so the JSON meets a closed pipe (as `| head` does once it has its lines)
    command = f"{sys.executable} -m pixelsound.cli score {files['a']} --model none --json"
    shell = f"set -o pipefail; {command} | true"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stderr == "" and done.returncode == errors.EXIT_PIPE


def test_version_bare_help_and_examples(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == "pixelsound 0.1.0"
    assert cli.main([]) == errors.EXIT_USAGE
    text = capsys.readouterr().err
    assert "usage: pixelsound" in text and "143" in text and "exit codes" in text
    for verb in cli.VERBS:
        with pytest.raises(SystemExit) as stop:
            cli.main([verb, "--help"])
        assert stop.value.code == 0
        text = capsys.readouterr().out
        assert f"example:\n  pixelsound {verb} " in text and "--quiet" in text


def test_train_help_names_only_files_that_exist(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    named = re.findall(r"recipes/[\w/.-]+\.toml", capsys.readouterr().out)
    assert named and all((ROOT / path).is_file() for path in named), named


def test_logging_flags_before_or_after_the_verb(files, capsys):
    out = files["file"].parent / "idx"
    assert cli.main(["index", str(files["clips"]), "-o", str(out / "i.jsonl"), "--quiet"]) == 0
    assert "indexed 2 files" in capsys.readouterr().out
    assert cli.main(["-q", "index", str(files["clips"]), "-o", str(out / "j.jsonl")]) == 0
    assert cli.main(["index", "-v", str(files["clips"] / "none"), "-o", str(out / "k.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("none: not a folder")  # -v shows the traceback


def test_sub_verbs_are_subparsers(capsys):
    for verb, actions in {"foley": ("make", "render"), "bank": ("build", "show")}.items():
        with pytest.raises(SystemExit) as stop:
            cli.main([verb, "nonsense"])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "invalid choice: 'nonsense'" in err and all(f"'{a}'" in err for a in actions)


def test_a_file_name_after_foley_stands_for_foley_make(tmp_path):
    parser = argparse.ArgumentParser()
    foley.add_arguments(parser)
    bare = tmp_path / "clip"  # an existing file without an extension
    bare.touch()
    for first, expanded in [
        ("silent.mp4", True),
        (str(bare), True),
        ("render", False),
        ("make", False),
        ("nonsense", False),
        ("--help", False),
    ]:
        argv = [first, "-o", "out.mp4"]
        assert cli.with_default_action(argv, parser, "make") == (["make", *argv] if expanded else argv)
    assert cli.with_default_action(["silent.mp4"], parser, None) == ["silent.mp4"]  # no default: as typed
    args = parser.parse_args(cli.with_default_action(["silent.mp4", "-o", "out.mp4"], parser, "make"))
    assert args.action == "make" and args.input == "silent.mp4"


def test_describe_os_error_words():
    assert errors.describe_os_error(PermissionError(13, "Permission denied", "/x")) == "/x: permission denied"
    assert errors.describe_os_error(OSError(30, "Read-only file system", "/r")) == "/r: read-only file system"


def test_separate_without_model_or_out_writes_separated_names_in_the_input_format(
    tmp_path, monkeypatch, capsys
):
    t = torch.arange(24000) / 16000
    stereo = torch.stack([0.3 * torch.sin(2 * math.pi * 330 * t), 0.2 * torch.sin(2 * math.pi * 550 * t)])
    frames = torch.full((12, 3, 32, 32), 90, dtype=torch.uint8)
    io.write_video(tmp_path / "a.mp4", frames, 8, audio=stereo, sr=16000)
    io.write_video(tmp_path / "b.mp4", frames.flip(1), 8, audio=stereo.flip(0), sr=16000)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["separate", "a.mp4", "b.mp4", "--rate", "input", "--channels", "input"]) == 0
    out = tmp_path / "separated" / "a+b"
    assert sorted(p.name for p in out.iterdir()) == ["0_a.wav", "1_b.wav", "mix.wav"]
    info = io.probe(out / "0_a.wav")
    assert (info.sample_rate, info.channels) == (16000, 2) and info.duration == pytest.approx(1.5, abs=0.01)
    assert cli.main(["separate", "a.mp4", "b.mp4", "--out", "plain", "--duration", "1"]) == 0
    info = io.probe(tmp_path / "plain" / "mix.wav")
    bundled = json.loads((ROOT / "pixelsound" / "assets" / "model" / "config.json").read_text())
    assert (info.sample_rate, info.channels) == (bundled["config"]["audio"]["sample_rate"], 1)
    with pytest.raises(SystemExit):
        cli.main(["separate", "a.mp4", "--rate", "fast"])
    assert "expected a positive whole number or 'input'" in capsys.readouterr().err


def test_message_grammar_for_a_missing_stream(tmp_path, capsys):
    frames = torch.full((12, 3, 32, 32), 90, dtype=torch.uint8)
    io.write_video(tmp_path / "silent.mp4", frames, 8)
    assert cli.main(["pixels", str(tmp_path / "silent.mp4"), "--out", str(tmp_path / "o")]) == 1
    assert error_line(capsys).endswith("needs video with sound; this file has no soundtrack")


def test_bank_build_defaults_to_the_bundled_model(files, monkeypatch):
    from pixelsound import bank

    seen = {}
    monkeypatch.setattr(bank, "build_bank", lambda index, model, out, **kw: seen.update(model=model) or 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a bug, not bad input: the traceback is kept
        cli.main(["bank", "build", str(files["clips"] / "i.jsonl"), "-o", str(files["file"].parent / "b")])
    assert seen == {"model": None}  # build_bank(model=None) loads the bundled one (checkpoint.load_model)


def test_a_forked_worker_ends_quietly_on_sigterm():
    # pool and DataLoader workers are forked with the CLI's handler; SIGTERM must end them, not raise there
    with cli._sigterm_raises():
        child = os.fork()
        if child == 0:
            try:
                time.sleep(30)
            finally:
                os._exit(3)  # reached only if the handler raised in the child
        time.sleep(0.3)
        os.kill(child, signal.SIGTERM)
        _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM


def test_unwritable_output_of_evaluate_and_train_is_one_line_and_exit_1(tmp_path, files, capsys):
    out = files["file"] / "sub"
    for name, freq in (("c.mp4", 300), ("d.mp4", 700)):  # long enough for the cpu preset's 2 s window
        clip(files["clips"] / name, seconds=3.0, freq=freq)
    index = tmp_path / "index.jsonl"
    assert cli.main(["index", str(files["clips"]), "-o", str(index)]) == 0
    capsys.readouterr()
    model = str(files["model"])
    evaluate = ["evaluate", model, str(index), "--mixes", "2", "--count", "1", "--out", str(out)]
    recipe = str(ROOT / "recipes/presets/cpu.toml")
    train = ["train", recipe, "--set", f"data.train_index={index}", f"train.out_dir={out}", "train.epochs=1"]
    for command in (evaluate, train):
        assert cli.main(command) == errors.EXIT_INPUT
        line = error_line(capsys)
        assert str(files["file"]) in line and "not a folder" in line
