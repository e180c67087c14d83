"""The instrument classes and their audio: General MIDI programs of several soundfonts rendered offline.

Each class has a GM program (or the drum kit / a percussion key on channel 10), related programs it may be
played with (``variants``: steel or nylon guitar, alto or tenor saxophone, another drum kit), a playable
range, a rhythmic profile and the emoji that draws it in every picture style. Sound sources (``SOURCES``) are
whole soundfonts with a role: "train" ones feed the training splits, "far" ones only the far split that no
model trains or is tuned on. Rendering uses pyfluidsynth without an audio driver: a fresh synthesizer per stem
(FluidSynth shares the loaded sample data between the synthesizers of a process, so this costs ~50 ms) keeps
every stem a pure function of its notes and controls, whatever that worker rendered before.

Reserved for independent evaluation and refused here: the MuseScore soundfonts (any size or packaging,
including FluidR3Mono) and TimGM6mb.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pixelsound import melody
from pixelsound.errors import UserError
from pixelsound.melody import Note, Rhythm

log = logging.getLogger(__name__)

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# kept for independent evaluation, never for any data we build
RESERVED_SOUNDFONTS = ("musescore", "timgm6mb", "fluidr3mono", "ms_basic", "generaluser")


@dataclass(frozen=True)
class Source:
    """A sound source with a role ("train" or "far"): a soundfont (``kind`` "soundfont", ``path`` its .sf2
    file and ``package`` the Debian package that installs it), recorded sample libraries (``kind``
    "samples", ``pixelsound.sampler``: npm packages in ``pictures.assets_dir()``, ``path`` as installed) or
    a GUS patch set (``kind`` "patches", ``pixelsound.patches``: ``path`` the Debian package's folder)."""

    name: str
    path: Path
    package: str
    role: str
    kind: str = "soundfont"


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("fluidr3", SOUNDFONT, "fluid-soundfont-gm", "train"),
        Source(
            "recorded",
            Path("deps/node_modules"),
            "npm tonejs-instrument-*-mp3, hydrogen-drumkits",
            "train",
            "samples",
        ),
        Source("opl3", Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"), "opl3-soundfont", "train"),
        Source("freepats", Path("/usr/share/midi/freepats"), "freepats", "train", "patches"),
        Source("csound", Path("/usr/share/sounds/sf2/sf_GMbank.sf2"), "csound-soundfont", "far"),
    )
}
# share of training clips per training source (FluidR3's sampled instruments most of the time); a clip whose
# classes a source does not all cover (the recorded libraries: banjo and bell; freepats: banjo) is
# played by FluidR3 instead
TRAIN_MIX: dict[str, float] = {"fluidr3": 0.35, "recorded": 0.3, "freepats": 0.2, "opl3": 0.15}
BLOCK = 64  # FluidSynth renders in blocks of 64 samples; note events land on this grid


class SynthError(UserError, RuntimeError):
    """The synthesizer or the soundfont is missing or unusable; the message says what to install."""


@dataclass(frozen=True)
class Instrument:
    """One instrument class.

    Attributes:
        name: category name used in indexes and sidecars.
        program: GM program number (0-based); for percussion, the GM key played (or -1 for the whole kit).
        low, high: playable MIDI range (melodic instruments).
        kind: "melodic", "drums" (the GM kit) or "shaker" (one percussion key).
        rhythm: rhythmic profile of melodic instruments.
        emoji: Unicode code point of the picture (hex, as emoji sets name their files).
        fluent: the picture's file name in the Fluent emoji set.
        variants: other programs (drum kits for "drums") the class may be played with.
    """

    name: str
    program: int
    low: int
    high: int
    kind: str
    emoji: str
    fluent: str
    rhythm: Rhythm = field(default_factory=Rhythm)
    variants: tuple[int, ...] = ()

    @property
    def channel(self) -> int:
        """MIDI channel: 9 (GM channel 10) for percussion, else 0."""
        return 9 if self.kind in ("drums", "shaker") else 0

    @property
    def bank(self) -> int:
        """Soundfont bank: 128 holds the GM drum kits."""
        return 128 if self.kind in ("drums", "shaker") else 0


_SLOW = Rhythm(beats=(1.0, 1.5, 2.0, 3.0), weights=(3.0, 1.0, 2.0, 1.0), bpm=(60.0, 100.0), rest=0.15)
_PLUCKED = Rhythm(beats=(0.5, 1.0, 1.5, 2.0), weights=(4.0, 4.0, 1.0, 1.0), legato=(0.5, 0.85), chord=0.25)

INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("accordion", 21, 53, 81, "melodic", "1FA97", "accordion", Rhythm(chord=0.2), (23,)),
    Instrument("guitar", 25, 40, 76, "melodic", "1F3B8", "guitar", _PLUCKED, (24,)),
    Instrument("violin", 40, 55, 88, "melodic", "1F3BB", "violin", variants=(110,)),
    Instrument("trumpet", 56, 55, 82, "melodic", "1F3BA", "trumpet", variants=(59,)),
    Instrument("saxophone", 65, 49, 80, "melodic", "1F3B7", "saxophone", variants=(64, 66)),
    Instrument("flute", 73, 60, 93, "melodic", "1FA88", "flute", variants=(72,)),
    Instrument("piano", 0, 45, 88, "melodic", "1F3B9", "musical-keyboard", Rhythm(chord=0.35), (1,)),
    Instrument("banjo", 105, 48, 76, "melodic", "1FA95", "banjo", _PLUCKED),
    Instrument("bell", 14, 60, 77, "melodic", "1F514", "bell", _SLOW, (112,)),
    Instrument("drum", -1, 35, 81, "drums", "1F941", "drum", variants=(8, 16, 32, 40)),
    Instrument("maracas", melody.MARACAS, 70, 70, "shaker", "1FA87", "maracas"),
)
CATEGORIES: tuple[str, ...] = tuple(i.name for i in INSTRUMENTS)


def instrument(name: str) -> Instrument:
    """The instrument called ``name``; ValueError listing the known ones otherwise."""
    for inst in INSTRUMENTS:
        if inst.name == name:
            return inst
    raise ValueError(f"unknown instrument {name!r} (known: {', '.join(CATEGORIES)})")


def notes_for(inst: Instrument, rng: np.random.Generator, seconds: float, sample_rate: int) -> list[Note]:
    """Random notes for ``inst`` over ``seconds``, onsets on the synthesizer's block grid."""
    grid = BLOCK / sample_rate
    if inst.kind == "drums":
        return melody.drum_pattern(rng, seconds, grid)
    if inst.kind == "shaker":
        return melody.shaker_pattern(rng, seconds, grid, key=inst.program)
    return melody.melody(rng, inst.low, inst.high, inst.rhythm, seconds, grid)


def performance(
    inst: Instrument, rng: np.random.Generator, seconds: float, sample_rate: int, accompany: float = 0.0
) -> list[Note]:
    """Notes of one clip's part: the tune (``notes_for``), and with probability ``accompany`` a second,
    quieter line played by the same instrument (a bass or held chord tones under a melody, a second groove
    under a drum pattern), as real solo recordings have."""
    notes = notes_for(inst, rng, seconds, sample_rate)
    if rng.random() >= accompany:
        return notes
    grid = BLOCK / sample_rate
    if inst.kind == "melodic":
        extra = melody.accompaniment(rng, notes, inst.low, inst.rhythm, seconds, grid)
    else:
        extra = [
            melody.Note(n.onset, n.duration, n.pitch, max(30, n.velocity - 35))
            for n in notes_for(inst, rng, seconds, sample_rate)
        ]
    return sorted(notes + extra, key=lambda n: (n.onset, n.pitch))


def expression(
    inst: Instrument, rng: np.random.Generator, notes: list[Note], seconds: float
) -> tuple[Control, ...]:
    """Random playing expression: swells of loudness (CC 11), vibrato depth (CC 1) and scoops into notes.

    Returns:
        Controls sorted by time (CC 11 every 50 ms along a piecewise-linear curve; CC 1 once; pitch bends
        around some onsets of melodic wind and string instruments).
    """
    knots = np.sort(np.concatenate([[0.0, seconds], rng.uniform(0, seconds, int(rng.integers(1, 6)))]))
    levels = rng.uniform(55, 127, len(knots))
    times = np.arange(0.0, seconds, 0.05)
    curve = np.interp(times, knots, levels)
    controls = [Control(float(t), "cc", int(v), 11) for t, v in zip(times, curve, strict=True)]
    if inst.kind != "melodic":
        return tuple(controls)
    controls.append(Control(0.0, "cc", int(rng.choice([0, 0, 30, 60, 90])), 1))
    if inst.name in ("violin", "trumpet", "saxophone", "flute", "accordion") and rng.random() < 0.5:
        for n in notes:
            if rng.random() < 0.25:  # a scoop: start a little flat and glide up within ~80 ms
                depth = int(rng.uniform(300, 1500))
                controls += [Control(n.onset + k * 0.02, "bend", -depth * (4 - k) // 4) for k in range(5)]
    return tuple(sorted(controls, key=lambda c: c.time))


def _import_fluidsynth():
    """Import pyfluidsynth, or raise SynthError saying which packages to install."""
    try:
        import fluidsynth  # optional at run time (needs libfluidsynth): imported where it is used
    except ImportError as err:  # pyfluidsynth missing, or it cannot find libfluidsynth
        raise SynthError(
            f"cannot use FluidSynth ({err}); install the Debian package 'fluidsynth' "
            "(apt-get install fluidsynth) and the Python package 'pyfluidsynth'"
        ) from None
    return fluidsynth


def check_soundfont(path: str | Path = SOUNDFONT) -> Path:
    """Check that the soundfont exists and is not one reserved for evaluation.

    Raises:
        SynthError: naming the file and the Debian package to install.
    """
    path = Path(path)
    if any(word in path.name.lower() for word in RESERVED_SOUNDFONTS):
        raise SynthError(f"{path}: this soundfont is reserved for independent evaluation; use FluidR3_GM.sf2")
    if not path.is_file():
        package = next((s.package for s in SOURCES.values() if s.path == path), "fluid-soundfont-gm")
        raise SynthError(
            f"soundfont {path} not found: install the Debian package '{package}' (apt-get install {package})"
        )
    _import_fluidsynth()
    return path


@dataclass(frozen=True)
class Control:
    """A performance control at a time: ``kind`` "cc" (``number``, value 0..127) or "bend" (-8192..8191)."""

    time: float
    kind: str
    value: int
    number: int = 0


class Renderer:
    """Renders note lists to mono float32 audio with one soundfont (keep one per process).

    Args:
        soundfont: path of the .sf2 file.
        sample_rate: output rate in Hz.
    """

    def __init__(self, soundfont: str | Path = SOUNDFONT, sample_rate: int = 22050):
        self.soundfont = check_soundfont(soundfont)
        self.sample_rate = sample_rate
        self._fs = _import_fluidsynth()
        self._keeper = self._new_synth()  # holds the sample cache so later loads are cheap
        self._write = self._fs._fl.fluid_synth_write_float
        self._write.argtypes = [ctypes.c_void_p, ctypes.c_int] + [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ] * 2

    def _new_synth(self):
        synth = self._fs.Synth(
            gain=0.5,
            samplerate=float(self.sample_rate),
            **{"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.cpu-cores": 1},
        )
        sfid = synth.sfload(str(self.soundfont))
        if sfid < 0:
            synth.delete()
            raise SynthError(f"{self.soundfont}: FluidSynth could not load this soundfont")
        return synth, sfid

    def _sample(self, t: float) -> int:
        """Sample index of time t on the block grid."""
        return BLOCK * round(t * self.sample_rate / BLOCK)

    def _pull(self, synth, n: int) -> np.ndarray:
        """The next n samples, mono float32."""
        left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
        self._write(synth.synth, n, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)
        return 0.5 * (left + right)

    def render(
        self,
        inst: Instrument,
        notes: list[Note],
        seconds: float,
        program: int | None = None,
        controls: tuple[Control, ...] = (),
    ) -> np.ndarray:
        """Play ``notes`` on ``inst`` and return the dry stem.

        Args:
            inst: the instrument (program, bank, channel).
            notes: notes with onsets on the BLOCK grid.
            seconds: output length.
            program: the GM program (drum kit for percussion) instead of the instrument's own; a program the
                soundfont lacks falls back to the instrument's own.
            controls: expression (CC 1 vibrato, CC 11 swells, pitch bends) at times, on the block grid.

        Returns:
            float32 array (L,), L = round(seconds * sample_rate); deterministic for the same arguments.
        """
        synth, sfid = self._new_synth()
        try:
            self._select(synth, sfid, inst, program)
            events = sorted(
                [(self._sample(n.onset), 2, n.pitch, n.velocity) for n in notes]
                + [(self._sample(n.onset + n.duration), 0, n.pitch, 0) for n in notes]
                + [(self._sample(c.time), 1, c.number, c.value, c.kind) for c in controls]
            )
            total, done, out = round(seconds * self.sample_rate), 0, []
            for at, what, key, value, *kind in events:
                at = min(at, total)
                if at > done:
                    out.append(self._pull(synth, at - done))
                    done = at
                if what == 2:
                    synth.noteon(inst.channel, key, value)
                elif what == 0:
                    synth.noteoff(inst.channel, key)
                elif kind[0] == "bend":
                    synth.pitch_bend(inst.channel, value)
                else:
                    synth.cc(inst.channel, key, value)
            if total > done:
                out.append(self._pull(synth, total - done))
            return np.concatenate(out)[:total]
        finally:
            synth.delete()

    def _select(self, synth, sfid: int, inst: Instrument, program: int | None) -> None:
        """Select ``program`` (or the instrument's own when None or missing from the soundfont)."""
        own = 0 if inst.kind in ("drums", "shaker") else inst.program
        if program is not None and synth.sfpreset_name(sfid, inst.bank, program) is None:
            program = None  # asking FluidSynth for a missing preset prints an error; fall back quietly
        if program is None or synth.program_select(inst.channel, sfid, inst.bank, program) != 0:
            if synth.program_select(inst.channel, sfid, inst.bank, own) != 0:
                raise SynthError(f"{self.soundfont}: no program {own} in bank {inst.bank} for {inst.name}")


def normalize(stem: np.ndarray, rms_db: float = -20.0, peak: float = 0.9) -> np.ndarray:
    """Scale a stem to an RMS level (dBFS), then down if its peak would exceed ``peak``.

    Shapes:
        stem: (L,) -> (L,)
    """
    rms = float(np.sqrt(np.mean(stem.astype(np.float64) ** 2)))
    if rms <= 1e-9:
        return stem.astype(np.float32)
    gain = 10 ** (rms_db / 20) / rms
    gain = min(gain, peak / max(float(np.abs(stem).max()), 1e-9))
    return (stem * gain).astype(np.float32)
