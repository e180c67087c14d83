"""The voice track: lines of text spoken at given times, by an offline text-to-speech backend.

A line is ``{"text", "start", "voice", "rate", "pan", "gain_db"}`` (see :mod:`pixelsound.cues`). Each is
synthesized by a :class:`Backend` (the default, :class:`EspeakNG`, runs the ``espeak-ng`` program, Debian
package ``espeak-ng``), trimmed of the leading silence the engine puts before speech (so the line starts on
its cue), resampled, levelled to :data:`pixelsound.mixdown.LINE_LUFS` plus its gain, panned and placed. Any
engine that turns text into a mono waveform fits the :class:`Backend` protocol.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from pixelsound import loudness, mixdown
from pixelsound.errors import UserError
from pixelsound.io import resample

log = logging.getLogger(__name__)

WORDS_PER_MINUTE = 175  # espeak-ng's normal speed: rate 1.0
ONSET_DB = -40.0  # a line's speech starts at its first sample this far under its peak


class VoiceError(UserError, RuntimeError):
    """A line cannot be spoken (no engine, an engine failure, an unknown voice)."""


class Backend(Protocol):
    """A text-to-speech engine: ``synthesize(text, voice, rate) -> (mono float waveform (L,), sample rate)``.

    ``voice`` is the engine's voice name (``""``: its default); ``rate`` is the speed relative to normal.
    """

    name: str

    def synthesize(self, text: str, voice: str, rate: float) -> tuple[np.ndarray, int]: ...


class EspeakNG:
    """espeak-ng through its command line (``espeak-ng --stdin -w OUT.wav``), offline and fast."""

    name = "espeak-ng"

    def __init__(self, program: str = "espeak-ng"):
        self.program = program

    def synthesize(self, text: str, voice: str, rate: float) -> tuple[np.ndarray, int]:
        exe = shutil.which(self.program)
        if exe is None:
            raise VoiceError(
                f"the voice track needs {self.program!r}, which is not installed "
                "(Debian: apt-get install espeak-ng, see deps/apt.txt)"
            )
        with tempfile.TemporaryDirectory(prefix="pixelsound-voice-") as tmp:
            out = Path(tmp) / "line.wav"
            command = [exe, "--stdin", "-z", "-s", str(int(round(WORDS_PER_MINUTE * rate))), "-w", str(out)]
            command += ["-v", voice] if voice else []
            done = subprocess.run(command, input=text.encode(), capture_output=True, timeout=120, check=False)
            if done.returncode != 0 or not out.is_file():
                why = " ".join(done.stderr.decode(errors="replace").split())
                raise VoiceError(f"espeak-ng could not speak {text[:40]!r} with voice {voice!r}: {why}")
            return read_wav(out)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM wav file -> (mono float32 waveform ``(L,)``, rate)."""
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2:
            raise VoiceError(f"{path}: expected 16-bit PCM, got {8 * w.getsampwidth()}-bit")
        rate, channels, data = w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())
    pcm = np.frombuffer(data, dtype="<i2").reshape(-1, channels)
    return (pcm.mean(1) / 32768.0).astype(np.float32), rate


@dataclass(frozen=True)
class Voiced:
    """The voice track.

    Attributes:
        audio: all lines, panned and levelled (a 0 dB line at ``mixdown.LINE_LUFS``), float32 ``(2, L)``.
        spans: ``(start, end)`` seconds of each line's speech as placed.
    """

    audio: Tensor
    spans: list[tuple[float, float]]


def speech_start(wave: np.ndarray, threshold_db: float = ONSET_DB) -> int:
    """Index of the first sample within ``threshold_db`` of the peak (0 for silence). ``(L,) -> int``."""
    peak = float(np.abs(wave).max()) if len(wave) else 0.0
    if peak <= 0:
        return 0
    return int(np.argmax(np.abs(wave) >= peak * 10 ** (threshold_db / 20)))


def line_wave(line: dict, backend: Backend, sample_rate: int) -> Tensor:
    """One line spoken, its leading silence trimmed, at ``sample_rate``, levelled to LINE_LUFS + gain.

    Shapes:
        -> ``(L_line,)``
    """
    raw, rate = backend.synthesize(
        str(line["text"]), str(line.get("voice") or ""), float(line.get("rate", 1.0))
    )
    raw = raw[max(0, speech_start(raw) - int(0.002 * rate)) :]  # keep 2 ms before the first sound
    wave = resample(torch.from_numpy(np.ascontiguousarray(raw)).float()[None], rate, sample_rate)[0]
    level = loudness.integrated_loudness(wave[None], sample_rate)
    target = mixdown.LINE_LUFS + float(line.get("gain_db", 0.0))
    return wave * 10 ** ((target - level) / 20) if np.isfinite(level) else wave


def voice_track(lines: list[dict], length: int, sample_rate: int, backend: Backend | None = None) -> Voiced:
    """Every line spoken at its start time, panned (constant power), summed on a stereo track.

    A line running past the end of the track is cut with a 20 ms fade (and a warning).

    Args:
        lines: voice lines (``text``, ``start`` seconds; optional ``voice``, ``rate``, ``pan``, ``gain_db``).
        length: samples of the track.
        sample_rate: Hz.
        backend: the text-to-speech engine (default :class:`EspeakNG`).

    Returns:
        :class:`Voiced`.

    Shapes:
        -> audio ``(2, length)``
    """
    backend = backend or EspeakNG()
    out = torch.zeros(2, length)
    spans = []
    for line in lines:
        wave = line_wave(line, backend, sample_rate)
        first = int(round(float(line["start"]) * sample_rate))
        n = min(len(wave), length - first)
        if n < len(wave):
            log.warning("voice line %r runs past the end of the video: cut", str(line["text"])[:40])
            fade = min(n, int(0.02 * sample_rate))
            wave = wave[:n].clone()
            wave[n - fade :] *= torch.linspace(1, 0, fade)
        gains = mixdown.pan_gains(float(line.get("pan", 0.0))).float()  # (2,)
        out[:, first : first + n] += gains[:, None] * wave[None, :n]
        spans.append((first / sample_rate, (first + n) / sample_rate))
    return Voiced(out, spans)


def parse_say(text: str) -> dict:
    """``"TEXT@SECONDS"`` (the ``--say`` option) -> a voice line; the last ``@`` splits.

    Raises:
        ValueError: no ``@``, empty text, or a time that is not a number >= 0.
    """
    words, at, seconds = text.rpartition("@")
    try:
        start = float(seconds)
    except ValueError:
        start = -1.0
    if not at or not words.strip() or not start >= 0:
        raise ValueError(f"--say {text!r}: expected TEXT@SECONDS, e.g. 'Here comes the drum@1.0'")
    return {"text": words.strip(), "start": start}
