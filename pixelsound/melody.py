"""Random note sequences for one instrument: melodies in its range, drum patterns, shaker rhythms.

Every generator takes a ``numpy.random.Generator`` and returns notes sorted by onset, so a clip's music is a
pure function of its seed. Onsets are quantized to the synthesizer's 64-sample block (``grid`` seconds), so
the times written to a clip's sidecar are the times the notes really start in its audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scale degrees (semitones above the root) to draw melodies from
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
}
MIN_GAP = 0.03  # seconds of silence between a note-off and the next note-on of a melody (clear onsets)
MIN_IOI = 0.13  # shortest inter-onset interval of any generated sequence (seconds)


@dataclass(frozen=True)
class Note:
    """One note: onset and duration in seconds, MIDI pitch (drum kit: the drum), velocity 1..127."""

    onset: float
    duration: float
    pitch: int
    velocity: int


@dataclass(frozen=True)
class Rhythm:
    """How an instrument plays: note lengths in beats (with weights), tempo range, legato, chords.

    Attributes:
        beats: note lengths in beats to choose from.
        weights: relative probability of each length.
        bpm: (slowest, fastest) tempo.
        legato: (min, max) fraction of a note's length that it sounds.
        rest: probability that a slot is a rest.
        chord: probability that a note carries a second note a third/fifth/octave above (piano, guitar, ...).
    """

    beats: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    weights: tuple[float, ...] = (3.0, 4.0, 1.0, 1.5)
    bpm: tuple[float, float] = (72.0, 144.0)
    legato: tuple[float, float] = (0.55, 0.9)
    rest: float = 0.12
    chord: float = 0.0


def quantize(t: float, grid: float) -> float:
    """Round a time to the synthesizer block grid (seconds)."""
    return round(t / grid) * grid if grid > 0 else t


def _next_pitch(rng: np.random.Generator, degree: int, n_degrees: int) -> int:
    """Random walk over scale degrees: mostly steps, sometimes a leap, sometimes a repeat."""
    steps = np.array([-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5])
    weights = np.array([0.3, 0.5, 1.0, 3.0, 5.0, 1.0, 5.0, 3.0, 1.0, 0.5, 0.3])
    step = int(rng.choice(steps, p=weights / weights.sum()))
    nxt = degree + step
    if nxt < 0 or nxt >= n_degrees:  # reflect at the ends of the range
        nxt = degree - step
    return int(np.clip(nxt, 0, n_degrees - 1))


def _scale_pitches(rng: np.random.Generator, low: int, high: int) -> np.ndarray:
    """All pitches of a random scale (random root) inside [low, high]."""
    name = str(rng.choice(list(SCALES)))
    root = int(rng.integers(0, 12))
    pcs = {(root + d) % 12 for d in SCALES[name]}
    return np.array([p for p in range(low, high + 1) if p % 12 in pcs])


def melody(
    rng: np.random.Generator, low: int, high: int, rhythm: Rhythm, seconds: float, grid: float = 0.0
) -> list[Note]:
    """A random melody in [low, high]: scale random walk, varied note lengths, rests, phrase dynamics.

    Args:
        rng: random generator (the only source of randomness).
        low, high: playable MIDI range of the instrument.
        rhythm: the instrument's rhythmic profile.
        seconds: clip length; no note starts in the last 0.25 s.
        grid: onset quantum in seconds (0: none).

    Returns:
        Notes sorted by onset; at least three notes.
    """
    pitches = _scale_pitches(rng, low, high)
    beat = 60.0 / rng.uniform(*rhythm.bpm)
    lengths = np.array(rhythm.beats) * beat
    probs = np.array(rhythm.weights) * (lengths >= MIN_IOI)
    probs = probs / probs.sum()
    degree = int(rng.integers(len(pitches) // 4, max(len(pitches) * 3 // 4, 1)))
    level = rng.uniform(70, 110)
    t, notes = quantize(rng.uniform(0.0, 0.6), grid), []
    while t < seconds - 0.25:
        length = float(rng.choice(lengths, p=probs))
        if rng.random() < 0.04:  # a longer breath between phrases
            t = quantize(t + rng.uniform(0.8, 1.8), grid)
            level = rng.uniform(65, 115)
            continue
        if notes and rng.random() < rhythm.rest:
            t = quantize(t + length, grid)
            continue
        degree = _next_pitch(rng, degree, len(pitches))
        velocity = int(np.clip(level + rng.normal(0, 10), 35, 127))
        sounding = max(min(length * rng.uniform(*rhythm.legato), length - MIN_GAP), 0.06)
        notes.append(Note(t, sounding, int(pitches[degree]), velocity))
        if rng.random() < rhythm.chord:
            above = int(pitches[degree]) + int(rng.choice([3, 4, 7, 12]))
            if above <= high:
                notes.append(Note(t, sounding, above, max(velocity - 10, 30)))
        t = quantize(t + length, grid)
    if len({n.onset for n in notes}) < 3:  # too sparse: draw again from the same stream
        return melody(rng, low, high, rhythm, seconds, grid)
    return notes


def accompaniment(
    rng: np.random.Generator, notes: list[Note], low: int, rhythm: Rhythm, seconds: float, grid: float = 0.0
) -> list[Note]:
    """A quieter second line under a melody: held tones a third to an octave and a half below it.

    Each held tone lasts one to three of the melody's onsets (so the line moves with the tune); pitches
    stay inside the instrument's range (``low``).

    Returns:
        Notes sorted by onset (possibly empty when the melody sits at the bottom of the range).
    """
    onsets = sorted({n.onset for n in notes})
    pitch_at = {n.onset: n.pitch for n in notes}
    out, i = [], 0
    velocity = int(np.clip(np.mean([n.velocity for n in notes]) - rng.uniform(15, 35), 30, 110))
    while i < len(onsets):
        span = int(rng.integers(1, 4))
        start = onsets[i]
        end = onsets[i + span] if i + span < len(onsets) else seconds - 0.05
        below = pitch_at[start] - int(rng.choice([3, 4, 5, 7, 8, 9, 12, 15, 16, 19]))
        if below >= low and end - start > 0.1:
            length = max(min((end - start) * rng.uniform(*rhythm.legato), end - start - MIN_GAP), 0.06)
            out.append(Note(quantize(start, grid), length, int(below), velocity))
        i += span
    return out


# General MIDI percussion keys (channel 10)
KICK, SNARE, CLOSED_HAT, OPEN_HAT, LOW_TOM, MID_TOM, HIGH_TOM, CRASH, RIDE = (
    36,
    38,
    42,
    46,
    45,
    47,
    50,
    49,
    51,
)
MARACAS = 70


def drum_pattern(rng: np.random.Generator, seconds: float, grid: float = 0.0) -> list[Note]:
    """A random drum-kit groove in eighth notes: kick/snare backbeat, hats, tom fills, crashes, silent bars.

    Args:
        rng: random generator.
        seconds: clip length.
        grid: onset quantum in seconds.

    Returns:
        Notes (pitch = GM percussion key) sorted by onset; simultaneous hits share an onset.
    """
    eighth = 30.0 / rng.uniform(80, 140)
    hat_p, kick_p = rng.uniform(0.3, 0.9), rng.uniform(0.15, 0.4)
    t0, notes, step = rng.uniform(0.0, 0.5), [], 0
    while True:
        t = quantize(t0 + step * eighth, grid)
        if t >= seconds - 0.25:
            break
        bar, pos = divmod(step, 8)
        if pos == 0 and bar > 0 and rng.random() < 0.12:  # a silent bar
            step += 8
            continue
        hits = []
        if pos in (0, 4) or rng.random() < kick_p * (pos % 2 == 0):
            hits.append(KICK)
        if pos in (2, 6):
            hits.append(SNARE)
        if rng.random() < hat_p:
            hits.append(CLOSED_HAT if rng.random() < 0.85 else OPEN_HAT)
        if pos >= 6 and rng.random() < 0.25:
            hits = [int(rng.choice([LOW_TOM, MID_TOM, HIGH_TOM]))]
        if pos == 0 and rng.random() < 0.15:
            hits.append(CRASH)
        for key in hits:
            accent = 20 if key in (KICK, SNARE, CRASH) else 0
            notes.append(Note(t, 0.1, key, int(np.clip(rng.normal(85 + accent, 10), 40, 127))))
        step += 1
    return notes if len({n.onset for n in notes}) >= 3 else drum_pattern(rng, seconds, grid)


def shaker_pattern(
    rng: np.random.Generator, seconds: float, grid: float = 0.0, key: int = MARACAS
) -> list[Note]:
    """A random shaker rhythm (maracas): eighths and quarters with accents and pauses.

    Args:
        rng: random generator.
        seconds: clip length.
        grid: onset quantum in seconds.
        key: GM percussion key to play.

    Returns:
        Notes sorted by onset.
    """
    beat = 60.0 / rng.uniform(70, 130)
    lengths, probs = np.array([0.5, 1.0, 1.5]) * beat, np.array([0.5, 0.35, 0.15])
    t, notes = quantize(rng.uniform(0.0, 0.5), grid), []
    while t < seconds - 0.25:
        if rng.random() < 0.1:
            t = quantize(t + rng.uniform(0.6, 1.5), grid)
            continue
        notes.append(Note(t, 0.1, key, int(np.clip(rng.normal(95, 15), 45, 127))))
        t = quantize(t + float(rng.choice(lengths, p=probs)), grid)
    return notes if len(notes) >= 3 else shaker_pattern(rng, seconds, grid, key)


def onsets(notes: list[Note]) -> list[float]:
    """Distinct onset times (seconds, sorted) of a note list; simultaneous notes count once."""
    return sorted({round(n.onset, 6) for n in notes})
