"""GUS patches: Gravis Ultrasound ``.pat`` instruments (the ``freepats`` set), read and played by ``sampler``.

The training world's fourth sound source (``instruments.SOURCES["freepats"]``): Debian's ``freepats`` package
(GPL-2+ with an exception for compositions that use the patches; ``apt-get install freepats``) installs one
``.pat`` file per General MIDI program in ``/usr/share/midi/freepats/Tone_000/NNN_Name.pat`` and one per
percussion key in ``Drum_000/KKK_Name.pat``. A patch holds a few short recordings (samples), each for a key
range, with a loop that sustains the note while it is held; this module reads them into ``sampler.Zone``s
and ``sampler.play`` plays them with the same expression as the recorded libraries.

File layout (little-endian): a 129-byte header ("GF1PATCH110" or "GF1PATCH100"), a 63-byte instrument
header, a 47-byte layer header (byte 6: the number of samples), then per sample a 96-byte header and its
wave data. The envelope is simplified: a note holds at full level and its release ramp lasts as long as the
GUS envelope's release stage takes to fall 43 dB; tremolo and vibrato are left out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelsound import instruments
from pixelsound.errors import UserError
from pixelsound.melody import Note
from pixelsound.sampler import Zone, play

FREEPATS = Path("/usr/share/midi/freepats")
MAGICS = (b"GF1PATCH110\0", b"GF1PATCH100\0")
_HEADER, _INSTRUMENT, _LAYER, _SAMPLE = 129, 63, 47, 96
# name, fractions, length, loop start, loop end, rate, low, high, root (mHz), tune, balance, envelope rates
# and offsets (6 each), tremolo and vibrato (3 each), modes, scale frequency, scale factor
_SAMPLE_FORMAT = "<7sBIIIHIIIhB6s6s6sBHH"
_16BIT, _UNSIGNED, _LOOP, _PINGPONG, _REVERSE, _SUSTAIN = 1, 2, 4, 8, 16, 32
# the classes freepats plays (it has no banjo, program 105); percussion comes from the drum set
COVERS = (
    "accordion",
    "guitar",
    "violin",
    "trumpet",
    "saxophone",
    "flute",
    "piano",
    "bell",
    "drum",
    "maracas",
)


class PatchError(UserError, ValueError):
    """A patch file or the patch set is missing, truncated or not a GUS patch; the message names it."""


def covers(name: str) -> bool:
    """Whether freepats plays the instrument class ``name``."""
    return name in COVERS


def midi_pitch(hz: float) -> float:
    """The (fractional) MIDI note of a frequency in Hz: 440 -> 69.0."""
    return 69.0 + 12.0 * float(np.log2(hz / 440.0))


def _release(rates: bytes, offsets: bytes) -> float:
    """Seconds the GUS envelope's release stage (stage 3) takes to fall 43 dB, within [0.02, 3].

    A rate byte holds an increment (low 6 bits, in 1/16 of an offset unit) applied every 8 ** (top 2 bits)
    frames of 44100 Hz; an offset unit is 0.375 dB of the GUS's logarithmic volume.
    """
    step, every = rates[3] & 63, 8 ** (rates[3] >> 6)
    units = min(max(offsets[2] - offsets[3], 0), 43 / 0.375)
    if step == 0 or units == 0:
        return 0.12
    return float(np.clip(units * 16 * every / (step * 44100), 0.02, 3.0))


def _wave(data: bytes, modes: int) -> np.ndarray:
    """Decode a sample's wave data to float32 (S,) in [-1, 1]."""
    if modes & _16BIT:
        raw = np.frombuffer(data[: len(data) // 2 * 2], "<u2" if modes & _UNSIGNED else "<i2")
        wave = raw.astype(np.float32) - (32768 if modes & _UNSIGNED else 0)
        wave /= 32768
    else:
        raw = np.frombuffer(data, np.uint8 if modes & _UNSIGNED else np.int8)
        wave = (raw.astype(np.float32) - (128 if modes & _UNSIGNED else 0)) / 128
    return wave[::-1].copy() if modes & _REVERSE else wave


@dataclass(frozen=True, eq=False)
class Patch:
    """One GUS patch: its samples as zones and the frequency range (Hz) each plays.

    Attributes:
        path: the .pat file.
        zones: one ``sampler.Zone`` per sample.
        ranges: (low, high) frequency in Hz of the keys each zone plays.
    """

    path: Path
    zones: tuple[Zone, ...]
    ranges: tuple[tuple[float, float], ...]

    def zone(self, pitch: int, velocity: int = 100) -> Zone:
        """The zone for a key (at any velocity): the first whose range holds its frequency, else the one
        with the nearest root."""
        hz = 440.0 * 2 ** ((pitch - 69) / 12)
        for zone, (low, high) in zip(self.zones, self.ranges, strict=True):
            if low <= hz <= high:
                return zone
        return min(self.zones, key=lambda z: abs(z.root - pitch))


def _sample(path: Path, blob: bytes, at: int, index: int) -> tuple[Zone, tuple[float, float], int]:
    """The zone of the sample whose header starts at byte ``at``, its range, and where the next one starts."""
    if at + _SAMPLE > len(blob):
        raise PatchError(f"{path}: truncated GUS patch (sample {index}'s header ends past the file's end)")
    fields = struct.unpack_from(_SAMPLE_FORMAT, blob, at)
    fractions, length, loop_start, loop_end, rate, low, high, root = fields[1:9]
    rates, offsets, modes, scale = fields[11], fields[12], fields[14], fields[16]
    data = blob[at + _SAMPLE : at + _SAMPLE + length]
    if len(data) < length:
        raise PatchError(f"{path}: truncated GUS patch (sample {index} has {len(data)} of {length} bytes)")
    if rate == 0 or root == 0:
        raise PatchError(f"{path}: sample {index} has no sample rate or root frequency")
    wave, width = _wave(data, modes), 2 if modes & _16BIT else 1
    start = loop_start / width + (fractions & 15) / 16
    end = min(loop_end / width + (fractions >> 4) / 16, len(wave))
    looped = bool(modes & _LOOP) and end - start >= 1
    zone = Zone(
        wave,
        float(rate),
        midi_pitch(root / 1000),
        release=_release(rates, offsets),
        loop=(start, end) if looped else None,
        pingpong=bool(modes & _PINGPONG),
        sustain=bool(modes & _SUSTAIN),
        tracking=scale / 1024,
    )
    return zone, (low / 1000, high / 1000), at + _SAMPLE + length


def read_patch(path: str | Path) -> Patch:
    """Read a GUS patch file (its first instrument's first layer).

    Raises:
        PatchError: one line naming the file, for a missing, foreign or truncated file.
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise PatchError(f"{path}: cannot read the GUS patch ({err.strerror})") from None
    if blob[:12] not in MAGICS:
        raise PatchError(f"{path}: not a GUS patch (no GF1PATCH110 header)")
    at = _HEADER + _INSTRUMENT + _LAYER
    if len(blob) < at:
        raise PatchError(f"{path}: truncated GUS patch (its headers end past the file's {len(blob)} bytes)")
    count = blob[_HEADER + _INSTRUMENT + 6]
    if count == 0:
        raise PatchError(f"{path}: the GUS patch holds no samples")
    zones, ranges = [], []
    for index in range(count):
        zone, span, at = _sample(path, blob, at, index)
        zones.append(zone)
        ranges.append(span)
    return Patch(path, tuple(zones), tuple(ranges))


class Kit:
    """A percussion set: each key plays its own patch at the recording's pitch, to its end (GM drum map).

    Args:
        files: percussion key -> patch file (read on first use); a key without one plays the nearest key's.
    """

    def __init__(self, files: dict[int, Path]):
        self.files = files
        self._zones: dict[int, Zone] = {}

    def zone(self, pitch: int, velocity: int = 100) -> Zone:
        """The key's patch's first sample (at any velocity), played unlooped, whole and untransposed."""
        key = min(self.files, key=lambda k: (abs(k - pitch), k))
        if key not in self._zones:
            z = read_patch(self.files[key]).zones[0]
            self._zones[key] = Zone(z.wave, z.rate, z.root, z.release, sustain=False, tracking=0.0)
        return self._zones[key]


def _numbered(folder: Path) -> dict[int, Path]:
    """The patch files of a folder by their number (``025_Steel_Guitar.pat`` -> 25)."""
    files = {}
    for path in sorted(folder.glob("*.pat")):
        number = path.name.split("_", 1)[0]
        if number.isdigit():
            files.setdefault(int(number), path)
    return files


class PatchPlayer:
    """Plays notes on the freepats set with the interface of ``instruments.Renderer``.

    Args:
        root: the installed set (``/usr/share/midi/freepats``).
        sample_rate: output rate in Hz.
    """

    def __init__(self, root: str | Path = FREEPATS, sample_rate: int = 22050):
        self.root = Path(root)
        self.sample_rate = sample_rate
        self.programs = _numbered(self.root / "Tone_000")
        self.kit = Kit(_numbered(self.root / "Drum_000"))
        self._patches: dict[int, Patch] = {}

    def check(self) -> None:
        """Fail early, naming the Debian package, when the set or a class's own patch is missing."""
        needed = [instruments.instrument(n) for n in COVERS]
        missing = [i.name for i in needed if i.kind == "melodic" and i.program not in self.programs]
        if missing or not self.kit.files:
            raise PatchError(
                f"GUS patches for {', '.join(missing) or 'percussion'} not found in {self.root}: install the "
                "Debian package 'freepats' (apt-get install freepats)"
            )

    def patch(self, program: int) -> Patch:
        """The patch of a GM program (0-based), read once."""
        if program not in self._patches:
            if program not in self.programs:
                raise PatchError(
                    f"{self.root / 'Tone_000'}: no patch for program {program} ({program:03d}_*.pat)"
                )
            self._patches[program] = read_patch(self.programs[program])
        return self._patches[program]

    def render(
        self, inst, notes: list[Note], seconds: float, program: int | None = None, controls=()
    ) -> np.ndarray:
        """Play ``notes`` on the patch of class ``inst`` (its own program, or ``program`` when the set has it;
        percussion on the drum set), with ``sampler.play``'s expression.

        Returns:
            float32 array (L,), L = round(seconds * sample_rate); deterministic for the same arguments.
        """
        if inst.kind in ("drums", "shaker"):
            zones = self.kit
        else:
            zones = self.patch(program if program in self.programs else inst.program)
        return play(zones, notes, seconds, self.sample_rate, controls)
