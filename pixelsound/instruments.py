"""The instrument classes and their audio: General MIDI programs of the FluidR3 soundfont rendered offline.

Each class has a GM program (or the drum kit / a percussion key on channel 10), a playable range, a rhythmic
profile and the emoji that draws it in every picture style. Rendering uses pyfluidsynth without an audio
driver: a fresh synthesizer per stem (FluidSynth shares the loaded sample data between the synthesizers of a
process, so this costs ~50 ms) keeps every stem a pure function of its notes, whatever that worker rendered
before.

Reserved for independent evaluation and refused here: the MuseScore and TimGM6mb soundfonts.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pixelsound import melody
from pixelsound.melody import Note, Rhythm

log = logging.getLogger(__name__)

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RESERVED_SOUNDFONTS = ("musescore", "timgm6mb")  # kept for independent evaluation, never for training data
BLOCK = 64  # FluidSynth renders in blocks of 64 samples; note events land on this grid


class SynthError(RuntimeError):
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
    """

    name: str
    program: int
    low: int
    high: int
    kind: str
    emoji: str
    fluent: str
    rhythm: Rhythm = field(default_factory=Rhythm)

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
    Instrument("accordion", 21, 53, 81, "melodic", "1FA97", "accordion", Rhythm(chord=0.2)),
    Instrument("guitar", 25, 40, 76, "melodic", "1F3B8", "guitar", _PLUCKED),
    Instrument("violin", 40, 55, 88, "melodic", "1F3BB", "violin"),
    Instrument("trumpet", 56, 55, 82, "melodic", "1F3BA", "trumpet"),
    Instrument("saxophone", 65, 49, 80, "melodic", "1F3B7", "saxophone"),
    Instrument("flute", 73, 60, 93, "melodic", "1FA88", "flute"),
    Instrument("piano", 0, 45, 88, "melodic", "1F3B9", "musical-keyboard", Rhythm(chord=0.35)),
    Instrument("banjo", 105, 48, 76, "melodic", "1FA95", "banjo", _PLUCKED),
    Instrument("bell", 14, 60, 77, "melodic", "1F514", "bell", _SLOW),
    Instrument("drum", -1, 35, 81, "drums", "1F941", "drum"),
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


def _import_fluidsynth():
    """Import pyfluidsynth, or raise SynthError saying which packages to install."""
    try:
        import fluidsynth
    except ImportError as err:  # pyfluidsynth missing, or it cannot find libfluidsynth
        raise SynthError(
            f"cannot use FluidSynth ({err}); install the Debian package 'fluidsynth' "
            "(apt-get install fluidsynth) and the Python package 'pyfluidsynth'"
        ) from None
    return fluidsynth


def check_soundfont(path: str | Path = SOUNDFONT) -> Path:
    """Check that the soundfont exists and is not one reserved for evaluation.

    Raises:
        SynthError: naming the file and the Debian package to install (fluid-soundfont-gm).
    """
    path = Path(path)
    if any(word in path.name.lower() for word in RESERVED_SOUNDFONTS):
        raise SynthError(f"{path}: this soundfont is reserved for independent evaluation; use FluidR3_GM.sf2")
    if not path.is_file():
        raise SynthError(
            f"soundfont {path} not found: install the Debian package 'fluid-soundfont-gm' "
            "(apt-get install fluid-soundfont-gm)"
        )
    _import_fluidsynth()
    return path


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

    def render(self, inst: Instrument, notes: list[Note], seconds: float) -> np.ndarray:
        """Play ``notes`` on ``inst`` and return the dry stem.

        Args:
            inst: the instrument (program, bank, channel).
            notes: notes with onsets on the BLOCK grid.
            seconds: output length.

        Returns:
            float32 array (L,), L = round(seconds * sample_rate); deterministic for the same notes.
        """
        synth, sfid = self._new_synth()
        try:
            program = 0 if inst.kind in ("drums", "shaker") else inst.program
            synth.program_select(inst.channel, sfid, inst.bank, program)
            events = sorted(
                [(self._sample(n.onset), 1, n.pitch, n.velocity) for n in notes]
                + [(self._sample(n.onset + n.duration), 0, n.pitch, 0) for n in notes]
            )
            total, done, out = round(seconds * self.sample_rate), 0, []
            for at, on, pitch, velocity in events:
                at = min(at, total)
                if at > done:
                    out.append(self._pull(synth, at - done))
                    done = at
                synth.noteon(inst.channel, pitch, velocity) if on else synth.noteoff(inst.channel, pitch)
            if total > done:
                out.append(self._pull(synth, total - done))
            return np.concatenate(out)[:total]
        finally:
            synth.delete()


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
