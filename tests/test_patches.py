"""GUS patches (the freepats source): a tiny patch written here is read, played at other pitches, looped
while held, released to silence; broken patches are refused with the file's name."""

import struct
from pathlib import Path

import numpy as np
import pytest

from pixelsound import instruments, patches, sampler
from pixelsound.melody import Note

RATE = 22050
ROOT_HZ = 220.0


def fundamental(wave: np.ndarray) -> float:
    """The pitch (Hz) by autocorrelation: the first peak above 90 % of the highest, refined by a parabola."""
    wave = wave - wave.mean()
    corr = np.fft.irfft(np.abs(np.fft.rfft(wave, 2 * len(wave))) ** 2)[: len(wave)]
    low, high = RATE // 2000, RATE // 50
    best = corr[low:high].max()
    lag = next(k for k in range(low, high) if corr[k] > 0.9 * best and corr[k - 1] <= corr[k] >= corr[k + 1])
    a, b, c = corr[lag - 1 : lag + 2]
    return RATE / (lag + 0.5 * (a - c) / (a - 2 * b + c))


def write_patch(path: Path, modes: int = 0b1100101, keep: int | None = None) -> Path:
    """A one-sample 16-bit GUS patch: 15.25 periods of a sine of ROOT_HZ at 44100 Hz, looped over its last 10
    (fractional loop points off the zero crossings), then 50 silent samples the loop must never reach;
    sustained; only the first ``keep`` bytes of the file if given."""
    rate, period = 44100, 44100 / ROOT_HZ
    loop_start, loop_end = 5.25 * period, 15.25 * period
    sine = 0.5 * 32767 * np.sin(2 * np.pi * np.arange(int(loop_end) + 1) / period)
    wave = np.concatenate([sine, np.zeros(50)]).astype("<i2")
    n = len(wave)
    frac = int((loop_start % 1) * 16) | (int((loop_end % 1) * 16) << 4)
    header = b"GF1PATCH110\0ID#000002\0" + b"test".ljust(60, b"\0")
    header += struct.pack("<BBBHHI", 1, 14, 0, 1, 127, 2 * n) + bytes(36)
    instrument = struct.pack("<H16sIB", 0, b"sine", 2 * n + 96 + 47, 1) + bytes(40)
    layer = struct.pack("<BBIB", 0, 0, 2 * n + 96, 1) + bytes(40)
    sample = struct.pack(
        "<7sBIIIHIIIhB6s6s6sBHH",
        b"sine",
        frac,
        2 * n,
        2 * int(loop_start),
        2 * int(loop_end),
        rate,
        20_000,  # low and high frequency (mHz): every key
        20_000_000,
        int(ROOT_HZ * 1000),
        0,
        7,
        bytes([63, 63, 63, 141, 63, 63]),  # a fast release stage (about 0.2 s for 43 dB)
        bytes([246, 246, 246, 0, 0, 0]),
        bytes(6),
        modes,
        60,
        1024,
    ) + bytes(36)
    blob = header + instrument + layer + sample + wave.tobytes()
    path.write_bytes(blob[:keep])
    return path


def test_a_looped_sine_plays_at_the_note_pitch_past_its_end_and_releases(tmp_path):
    patch = patches.read_patch(write_patch(tmp_path / "sine.pat"))
    zone = patch.zone(60)
    assert zone.rate == 44100 and zone.root == pytest.approx(57.0, abs=1e-3)  # 220 Hz is A3
    assert zone.loop is not None and zone.sustain and 0.1 < zone.release < 0.3
    length = len(zone.wave) / zone.rate  # 70 ms of recording
    wave = sampler.play(patch, [Note(0.1, 1.0, 64, 100)], 1.6, RATE)  # E4, 7 semitones above the root
    held = wave[int(0.5 * RATE) : int(1.0 * RATE)]  # long after the recording's end: the loop plays on
    assert 0.1 + length < 0.5 and np.sqrt(np.mean(held**2)) > 0.2
    assert fundamental(held) == pytest.approx(440 * 2 ** ((64 - 69) / 12), rel=0.003)
    steps = np.abs(np.diff(wave[int(0.2 * RATE) : int(1.0 * RATE)]))
    assert steps.max() < 1.2 * 0.5 * 2 * np.pi * 330 / RATE  # no click where the loop jumps back
    assert np.abs(wave[int(1.45 * RATE) :]).max() < 1e-3  # released: silent after the release
    assert np.abs(wave[: int(0.1 * RATE)]).max() == 0


def test_percussion_plays_whole_and_untransposed(tmp_path):
    kit = patches.Kit({70: write_patch(tmp_path / "shake.pat", modes=0b1000001)})  # no loop, no sustain
    wave = sampler.play(kit, [Note(0.0, 0.01, 80, 127)], 0.3, RATE)  # a short note on another key
    loud = np.flatnonzero(np.abs(wave) > 0.01)
    assert loud[-1] / RATE == pytest.approx(15.25 / ROOT_HZ, abs=0.003)  # all of it, not cut at note-off
    assert fundamental(wave[: loud[-1]]) == pytest.approx(ROOT_HZ, rel=0.003)  # at the recording's pitch


@pytest.mark.parametrize(
    ("keep", "problem"),
    [(6000, "sample 0 has 5665 of 6214 bytes"), (300, "sample 0's header"), (150, "headers")],
)
def test_a_truncated_patch_names_the_file(tmp_path, keep, problem):
    path = write_patch(tmp_path / "cut.pat", keep=keep)
    with pytest.raises(patches.PatchError, match=f"cut.pat: truncated GUS patch .*{problem}"):
        patches.read_patch(path)
    (tmp_path / "text.pat").write_text("not a patch at all")
    with pytest.raises(patches.PatchError, match="text.pat: not a GUS patch"):
        patches.read_patch(tmp_path / "text.pat")


def test_player_picks_programs_and_says_what_to_install(tmp_path):
    with pytest.raises(patches.PatchError, match="apt-get install freepats"):
        patches.PatchPlayer(tmp_path).check()
    for folder in ("Tone_000", "Drum_000"):
        (tmp_path / folder).mkdir()
    write_patch(tmp_path / "Tone_000" / "025_Steel_Guitar.pat")
    player = patches.PatchPlayer(tmp_path, RATE)
    guitar = instruments.instrument("guitar")
    notes = [Note(0.0, 0.5, 57, 100)]
    own = player.render(guitar, notes, 0.8)
    assert np.array_equal(player.render(guitar, notes, 0.8, program=24), own)  # no 024 patch: its own
    assert fundamental(own[RATE // 10 : RATE // 2]) == pytest.approx(ROOT_HZ, rel=0.003)
    assert not patches.covers("banjo") and patches.covers("maracas")
