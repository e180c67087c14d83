"""pixelsound against the original Sound-of-Pixels code at the paper configuration, side by side, one run.

    python benchmarks/bench_sop.py --sop PATH          # PATH: a checkout of hangzhaomit/Sound-of-Pixels
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/bench_sop.py --sop PATH  # AVX2-only

Nothing is downloaded and none of the original code is copied: its model classes are imported from PATH
(``models/audio_net.py`` Unet, ``models/vision_net.py`` ResnetDilated, ``models/synthesizer_net.py``
InnerProd) and built as its ``scripts/train_MUSIC.sh`` does (unet7, resnet18dilated with max pooling, 32
channels, linear synthesizer, binary masks, weighted BCE), with random weights (torchvision's ResNet-18 made
with ``weights=None``). Around the nets it runs what its ``main.py`` does, written here with torch ops: STFT
1022/256, warp to 256 log bins with ``grid_sample``, log, nets, sigmoid masks, unwarp, 0.5 threshold, ISTFT
(its loader's librosa STFT/ISTFT replaced by torch's, the same for both sides).

Figures (each the median of ``--repeat`` runs after warm-ups, the two codes alternating run by run):

* ``separate 6.0 s``: a 2-mix of 66150 samples. pixelsound separates all of it (two overlapping windows that
  share their frames, so its frame net runs once and its U-Net twice);
  the original code takes one 65535-sample window (its loader crops every clip to that), so it is given one.
* ``separate 5.94 s``: a 2-mix of exactly one window (65535 samples); the same work for both.
* ``train step / mixture``: forward, loss, backward and SGD step of a batch of ``--batch`` mixtures
  (pixelsound's ``train_step`` with the preset's optimizer and ``train.bf16`` as the preset says; the
  original's forward with its weighted BCE and SGD with momentum), divided by the batch size. The
  original's STFTs are made by its data loader, so they are left out of its step; pixelsound's are in.

``--int8`` runs pixelsound's separation with int8 convolutions (``separate --int8``, :mod:`pixelsound.int8`).

Peak memory is each side's own process (a fresh one per figure, its ``VmHWM``). CPU seconds (both threads'
time, ``time.process_time``) are given beside wall seconds: on a shared machine they say what the work
cost when the wall clock mostly says how busy the machine was. Writes
``benchmarks/results/sop/<capability>_bf16_<setting>.md``. The machine may be shared: figures are medians,
and the ratio is also given as the median of the run-by-run ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import optim, train  # noqa: E402
from pixelsound.clip import TensorClip  # noqa: E402
from pixelsound.config import load_config, replace  # noqa: E402
from pixelsound.frames import normalize_frames  # noqa: E402
from pixelsound.inference import fold_batchnorm  # noqa: E402
from pixelsound.int8 import quantize_convs  # noqa: E402
from pixelsound.model import SoundOfPixels  # noqa: E402
from pixelsound.precision import use_bf16  # noqa: E402
from pixelsound.separate import separate_waveform  # noqa: E402

SR, WINDOW, N_FFT, HOP, BINS, FPS = 11025, 65535, 1022, 256, 256, 8.0
TASKS = ("separate 6.0 s", "separate 5.94 s", "train step / mixture")


# ------------------------------------------------------------------------------ the original code's side


def sop_nets(path: Path) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """The original Unet, ResnetDilated and InnerProd, imported from a checkout at ``path``."""
    import torchvision

    sys.path.insert(0, str(path))
    from models.audio_net import Unet
    from models.synthesizer_net import InnerProd
    from models.vision_net import ResnetDilated

    sound = Unet(fc_dim=32, num_downs=7)
    frame = ResnetDilated(torchvision.models.resnet18(weights=None), fc_dim=32, pool_type="maxpool")
    return sound, frame, InnerProd(fc_dim=32)


def log_grid(rows: int, cols: int, warp: bool) -> torch.Tensor:
    """``grid_sample`` grid of the original's log-frequency warp or its inverse. ``-> (1, rows, cols, 2)``."""
    x = torch.linspace(-1, 1, cols).expand(rows, cols)
    y = torch.linspace(-1, 1, rows)[:, None].expand(rows, cols)
    if warp:  # output row v reads the linear axis at (21 ** ((v + 1) / 2) - 11) / 10
        y = (21 ** ((y + 1) / 2) - 11) / 10
    else:
        y = torch.log(y * 10 + 11) / torch.log(torch.tensor(21.0)) * 2 - 1
    return torch.stack([x, y], -1)[None]


class SopRunner:
    """What the original main.py does around its three nets, for separation and for a training step."""

    def __init__(self, path: Path):
        self.sound, self.frame, self.synth = sop_nets(path)
        params = [
            {"params": self.sound.parameters(), "lr": 1e-3},
            {"params": self.synth.parameters(), "lr": 1e-3},
            {"params": self.frame.parameters(), "lr": 1e-4},
        ]
        self.optimizer = torch.optim.SGD(params, momentum=0.9, weight_decay=1e-4)
        self.window = torch.hann_window(N_FFT)
        self.grid_warp = log_grid(BINS, WINDOW // HOP + 1, True)
        self.grid_unwarp = log_grid(N_FFT // 2 + 1, WINDOW // HOP + 1, False)

    def stft(self, wave: torch.Tensor) -> torch.Tensor:
        return torch.stft(wave, N_FFT, HOP, window=self.window, return_complex=True)[:, None]  # (B, 1, F, T)

    def masks(self, mag_mix: torch.Tensor, frames: list[torch.Tensor]) -> tuple[list, torch.Tensor]:
        """Its NetWrapper.forward up to the predicted masks; mag_mix ``(B, 1, F, T)`` linear."""
        b = mag_mix.shape[0]
        warped = F.grid_sample(mag_mix + 1e-10, self.grid_warp.expand(b, -1, -1, -1), align_corners=False)
        sound = self.sound(torch.log(warped))
        visual = [torch.sigmoid(self.frame.forward_multiframe(f)) for f in frames]
        return [torch.sigmoid(self.synth(v, sound)) for v in visual], warped

    def separate(self, mix: torch.Tensor, videos: torch.Tensor) -> list[torch.Tensor]:
        """One window: mix ``(L,)``, videos uint8 ``(N, V_all, 3, H, W)`` -> N waveforms."""
        self.sound.eval(), self.frame.eval(), self.synth.eval()
        with torch.no_grad():
            spec = self.stft(mix[None, :WINDOW])  # (1, 1, F_lin, T)
            frames = [sop_frames(v[None]) for v in videos]
            masks, _ = self.masks(spec.abs(), frames)
            waves = []
            for m in masks:
                linear = F.grid_sample(m, self.grid_unwarp, align_corners=False) > 0.5
                waves.append(
                    torch.istft((spec * linear)[:, 0], N_FFT, HOP, window=self.window, length=WINDOW)
                )
        return waves

    def step(self, sources: torch.Tensor, frames: list[torch.Tensor]) -> None:
        """One SGD step on a batch: sources ``(B, N, L)``; the STFTs come from its data loader."""
        self.sound.train(), self.frame.train(), self.synth.train()
        mags = [self.stft(sources[:, n]).abs() for n in range(sources.shape[1])]
        mag_mix = self.stft(sources.sum(1)).abs()
        preds, warped = self.masks(mag_mix, frames)
        b = warped.shape[0]
        grid = self.grid_warp.expand(b, -1, -1, -1)
        weight = torch.clamp(torch.log1p(warped), 1e-3, 10)
        targets = [(F.grid_sample(m, grid, align_corners=False) > 0.5 * warped).float() for m in mags]
        loss = torch.stack(
            [F.binary_cross_entropy(p, t, weight=weight) for p, t in zip(preds, targets, strict=True)]
        ).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


def sop_frames(videos: torch.Tensor) -> torch.Tensor:
    """3 frames per window as its loader gives them: uint8 ``(B, V_all, 3, H, W)`` -> ``(B, 3, V, H, W)``."""
    picked = videos[:, [8, 24, 40]]  # frames at the window's 1/6, 3/6, 5/6 (8 fps)
    return normalize_frames(picked).transpose(1, 2).contiguous()


# ---------------------------------------------------------------------------------------- pixelsound's side


class PixelsoundRunner:
    """pixelsound at the sop preset, as ``pixelsound separate`` and ``pixelsound train`` run it."""

    def __init__(self, batch: int, bf16: str, int8: bool = False):
        cfg = load_config(ROOT / "recipes/presets/sop.toml")
        self.cfg = replace(cfg, train={"batch_size": batch, "bf16": bf16})
        self.model = SoundOfPixels(self.cfg)
        self.inference = fold_batchnorm(self.model)
        if int8:  # separate --int8
            self.inference = quantize_convs(self.inference)
        self.optimizer = optim.build_optimizer(self.model, self.cfg.train)

    def separate(self, mix: torch.Tensor, videos: torch.Tensor) -> torch.Tensor:
        clips = [TensorClip(v, FPS) for v in videos]
        return separate_waveform(self.inference, mix, clips, bf16=self.cfg.train.bf16)

    def step(self, sources: torch.Tensor, frames: torch.Tensor) -> None:
        self.model.train()
        b, n = sources.shape[:2]
        batch = {"sources": sources, "frames": frames, "group": torch.arange(b)}
        train.train_step(self.model, self.optimizer, batch, torch.ones(b, n), self.cfg, torch.device("cpu"))


# ------------------------------------------------------------------------------------------------ timing


def inputs(task: str, batch: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    length = 66150 if task == "separate 6.0 s" else WINDOW
    if task.startswith("separate"):
        return {
            "mix": 0.1 * torch.randn(length, generator=gen),
            "videos": torch.randint(0, 256, (2, 48, 3, 224, 224), generator=gen, dtype=torch.uint8),
        }
    return {
        "sources": 0.1 * torch.randn(batch, 2, WINDOW, generator=gen),
        "videos": torch.randint(0, 256, (batch, 2, 48, 3, 224, 224), generator=gen, dtype=torch.uint8),
    }


def job(side: str, task: str, args: argparse.Namespace) -> Callable[[], None]:
    """A no-argument function doing ``task`` once with ``side``'s code."""
    batch = args.batch
    runner = SopRunner(args.sop) if side == "sop" else PixelsoundRunner(batch, args.bf16, args.int8)
    x = inputs(task, batch)
    if task.startswith("separate"):
        return lambda: runner.separate(x["mix"], x["videos"])
    if side == "sop":
        frames = [sop_frames(x["videos"][:, n]) for n in range(2)]
        return lambda: runner.step(x["sources"], frames)
    frames = x["videos"][:, :, [8, 24, 40]]  # (B, N, V, 3, H, W)
    return lambda: runner.step(x["sources"], frames)


def alternate(jobs: dict[str, Callable[[], None]], repeat: int, warmup: int) -> dict[str, list[float]]:
    """Wall and CPU seconds of each job's runs (keys ``name`` and ``name cpu``), the jobs taking turns."""
    times: dict[str, list[float]] = {key: [] for name in jobs for key in (name, f"{name} cpu")}
    for i in range(warmup + repeat):
        for name, fn in jobs.items():
            start, cpu = time.perf_counter(), time.process_time()
            fn()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
                times[f"{name} cpu"].append(time.process_time() - cpu)
    return times


def peak_memory_mb(side: str, task: str, args: argparse.Namespace) -> float:
    """Peak resident memory of a fresh process doing ``task`` twice with ``side``'s code."""
    cmd = [
        sys.executable,
        __file__,
        "--one",
        side,
        task,
        "--threads",
        str(args.threads),
        "--batch",
        str(args.batch),
        "--bf16",
        args.bf16,
    ] + (["--int8"] if args.int8 else [])
    if args.sop:
        cmd += ["--sop", str(args.sop)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ.copy())
    return float(out.stdout.strip().splitlines()[-1])


def machine(setting: str) -> str:
    env = ", ".join(
        f"{k}={os.environ[k]}" for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if k in os.environ
    )
    cap = torch.backends.cpu.get_cpu_capability()
    bf16 = "on" if use_bf16(setting, "cpu") else "off"
    env = f" ({env})" if env else ""
    name = platform.processor() or platform.machine()
    return f"{name}, capability {cap}{env}, pixelsound bf16 = {setting}: {bf16}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sop", type=Path, help="checkout of the original Sound-of-Pixels code")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4, help="mixtures per training step")
    parser.add_argument("--bf16", default="auto", choices=["auto", "true", "false"], help="pixelsound's")
    parser.add_argument("--int8", action="store_true", help="pixelsound separates with --int8")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--out", type=Path, help="report (default benchmarks/results/sop_<capability>.md)")
    parser.add_argument("--one", nargs=2, metavar=("SIDE", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.one:
        fn = job(args.one[0], args.one[1], args)
        fn(), fn()
        status = Path("/proc/self/status").read_text()  # VmHWM: this process's own peak (ru_maxrss keeps the
        print(int(status.split("VmHWM:")[1].split()[0]) / 1024)  # parent's across exec)
        return
    sides = ["pixelsound"] + (["sop"] if args.sop else [])
    rows = []
    for task in args.tasks:
        jobs = {side: job(side, task, args) for side in sides}
        times = alternate(jobs, args.repeat, args.warmup)
        per = args.batch if task.startswith("train") else 1
        row = {"task": task, **{key: statistics.median(t) / per for key, t in times.items()}}
        if args.sop:
            row["ratio"] = row["sop"] / row["pixelsound"]
            row["cpu_ratio"] = row["sop cpu"] / row["pixelsound cpu"]
            row["pair_ratio"] = statistics.median(
                s / p for s, p in zip(times["sop"], times["pixelsound"], strict=True)
            )
        if not args.no_memory:
            row.update({f"{side}_mb": peak_memory_mb(side, task, args) for side in sides})
        row["spread"] = {key: (min(t) / per, max(t) / per) for key, t in times.items()}
        rows.append(row)
        print(json.dumps(row))
    write_report(rows, args)


def write_report(rows: list[dict], args: argparse.Namespace) -> None:
    cap = torch.backends.cpu.get_cpu_capability().lower()
    name = f"{cap}_bf16_{args.bf16}" + ("_int8" if args.int8 else "")
    out = args.out or ROOT / "benchmarks" / "results" / "sop" / f"{name}.md"
    lines = [
        f"# pixelsound vs the Sound-of-Pixels code, paper configuration ({args.threads} threads)",
        "",
        f"Machine: {machine(args.bf16)}; torch {torch.__version__}. Median of {args.repeat} runs after"
        f" {args.warmup}"
        " warm-ups, alternating; seconds (per mixture for training). Command:",
        f"`python benchmarks/bench_sop.py --sop PATH --threads {args.threads} --repeat {args.repeat}"
        f" --batch {args.batch} --bf16 {args.bf16}{' --int8' if args.int8 else ''}`",
        "",
        "| figure | SoP code (s) | pixelsound (s) | ratio | ratio of pairs | CPU s SoP / ours | CPU ratio |"
        " peak MB SoP / ours |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        nan = float("nan")
        mem = f"{r.get('sop_mb', nan):.0f} / {r.get('pixelsound_mb', nan):.0f}"
        cpu = f"{r.get('sop cpu', nan):.3f} / {r['pixelsound cpu']:.3f}"
        sop = f"{r['sop']:.3f}" if "sop" in r else "-"
        ratios = [f"{r[k]:.2f}x" if k in r else "-" for k in ("ratio", "pair_ratio", "cpu_ratio")]
        lines.append(
            f"| {r['task']} | {sop} | {r['pixelsound']:.3f} | {ratios[0]} | {ratios[1]} | {cpu} "
            f"| {ratios[2]} | {mem} |"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
