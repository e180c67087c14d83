"""SDR of the bundled model on the bundled duet, before and after the inference rewrites (issue 15).

    python benchmarks/check_fast_sdr.py

"Before" runs ``SoundOfPixels.separate`` window by window on the model as loaded; "after" runs
``separate_waveform`` on the folded model (merged last conv, reused frame features), in float32, in bf16 and
with int8 convolutions (``separate --int8``).
"""

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import separate as S  # noqa: E402
from pixelsound.checkpoint import load_release  # noqa: E402
from pixelsound.clip import FileClip  # noqa: E402
from pixelsound.inference import fold_batchnorm  # noqa: E402
from pixelsound.int8 import quantize_convs  # noqa: E402
from pixelsound.io import read_audio  # noqa: E402
from pixelsound.metrics import sdr  # noqa: E402

VIDEOS = sorted((ROOT / "pixelsound/assets/samples").glob("*.mp4"))  # the bundled pair (release.py)


def before(model, mix, clips) -> torch.Tensor:
    """The separation as it was: the model's own ``separate`` on each window's own frames."""
    keep = S._separate_pieces, S.FrameFeatures
    S.FrameFeatures = lambda m: lambda frames: frames
    S._separate_pieces = lambda m, pieces, frames: m.separate(pieces, frames).float()
    try:
        return S.separate_waveform(model, mix, clips, bf16=False)
    finally:
        S._separate_pieces, S.FrameFeatures = keep


def main() -> None:
    torch.set_num_threads(2)
    model, cfg = load_release(ROOT / "pixelsound/assets/model")
    sr = cfg.audio.sample_rate
    solos = torch.stack([read_audio(v, sr)[0] for v in VIDEOS])  # (N, L)
    clips = [FileClip(v) for v in VIDEOS]
    mix = solos.sum(0)
    ref = before(model.eval(), mix, clips)
    fast = fold_batchnorm(model)
    for name, est in [
        ("before (model.separate)", ref),
        ("after, float32", S.separate_waveform(fast, mix, clips, bf16=False)),
        ("after, bf16", S.separate_waveform(fast, mix, clips, bf16=True)),
        ("after, int8", S.separate_waveform(quantize_convs(fast), mix, clips, bf16=False)),
    ]:
        diff = (est - ref).abs().max().item()
        print(
            f"{name}: SDR {sdr(solos, est).mean().item():.3f} dB, largest difference from before {diff:.1e}"
        )


if __name__ == "__main__":
    main()
