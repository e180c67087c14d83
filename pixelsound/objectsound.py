"""Each Foley object's sound from its cue: modal impacts, bank snippets or a sample file at its events,
rendered one object at a time.

* :func:`object_track`: one object's mono track (the bank prototype's event-aligned snippets, the one closest
  in strength for each event, cut at the next event; modal impacts, :mod:`pixelsound.modal`, with material,
  size and speed from the event's strength; or a sample file);
* :class:`ObjectSounds`: a cue sheet's objects, panned and summed into the objects' bus one at a time, so
  memory stays ``O(L)`` however many objects there are;
* :class:`Stems`: each object's stem as it sits in the master, rendered again when asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pixelsound import io, mixdown, modal
from pixelsound.cues import CueError
from pixelsound.soundbank import Bank


def resolve(path: str, base: Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or base is None else base / p


def _event_times(obj: dict, where: str) -> tuple[list[float], list[float]]:
    times, strengths = [], []
    for j, event in enumerate(obj.get("events", [])):
        try:
            times.append(float(event["time"]))
            strengths.append(float(np.clip(float(event.get("strength", 0.7)), 0.0, 1.5)))
        except (KeyError, TypeError, ValueError):
            raise CueError(f"{where}: event {j} needs a numeric 'time' (got {event!r})") from None
    return times, strengths


def _sample_track(sounds: list[tuple[float, Tensor]], length: int, sample_rate: int) -> Tensor:
    """Place sounds at their times, each cut (with a 20 ms fade) where the next one starts. ``-> (L,)``."""
    ordered = sorted(sounds, key=lambda s: s[0])
    placed = []
    for i, (t, wave) in enumerate(ordered):
        if i + 1 < len(ordered):
            room_left = max(1, int(round((ordered[i + 1][0] - t) * sample_rate)))
            if len(wave) > room_left:
                wave = wave[:room_left].clone()
                fade = min(len(wave), int(0.02 * sample_rate))
                wave[len(wave) - fade :] *= torch.linspace(1, 0, fade)
        placed.append((t, wave))
    return modal.place(placed, length, sample_rate)


def _peak_normalized(wave: Tensor) -> Tensor:
    return wave / wave.abs().max().clamp_min(1e-9)


def object_track(obj: dict, length: int, sample_rate: int, bank, base: Path | None, where: str) -> Tensor:
    """One object's mono track from its cue: modal impacts, bank snippets or a sample file at its events.

    Shapes:
        -> ``(length,)``
    """
    times, strengths = _event_times(obj, where)
    sound = obj.get("sound") or {"kind": "modal"}
    kind = sound.get("kind", "modal")
    if obj.get("mute") or not times:
        return torch.zeros(length)
    if kind == "modal":
        try:
            return modal.impact_track(
                times,
                strengths,
                sound.get("material", "plastic"),
                float(sound.get("size", 1.0)),
                length,
                sample_rate=sample_rate,
                seed=int(sound.get("seed", 0)),
            )
        except ValueError as err:
            raise CueError(f"{where}: {err}") from None
    if kind == "file":
        wave = _peak_normalized(io.read_audio(resolve(sound["path"], base), sample_rate)[0])
        return _sample_track(
            [(t, wave * (0.3 + 0.7 * s)) for t, s in zip(times, strengths, strict=True)], length, sample_rate
        )
    if kind == "bank":
        if bank is None:
            raise CueError(f"{where}: a bank sound needs the cue sheet's 'bank' folder")
        proto = int(sound["prototype"])
        rng = np.random.default_rng(int(sound.get("seed", 0)))
        sounds = []
        for event, t, s in zip(obj["events"], times, strengths, strict=True):
            index = event.get("snippet")
            index = bank.choose(proto, s, rng) if index is None else int(index)
            wave = io.resample(bank.snippets[index], bank.sample_rate, sample_rate)
            sounds.append((t, _peak_normalized(wave) * (0.3 + 0.7 * s)))
        return _sample_track(sounds, length, sample_rate)
    raise CueError(f"{where}: unknown sound kind {kind!r} (known: modal, bank, file)")


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a block with ``count`` torch threads (0: unchanged), restoring the previous count after."""
    before = torch.get_num_threads()
    if count > 0:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class ObjectSounds:
    """The cue sheet's objects, rendered one at a time (:func:`object_track`), so that memory stays ``O(L)``
    however many objects there are.

    Attributes:
        cues: the validated cue sheet.
        length: samples of each track.
        base: folder the cue sheet's relative paths refer to.
        bank: the sound bank its ``bank`` sounds come from (None when it has none).
        threads: torch threads while rendering an object (see :class:`pixelsound.spotting.FoleyConfig`; with
            two threads on two busy cores, writing 300 stems took 4x the CPU time of one thread).
    """

    cues: dict[str, Any]
    length: int
    base: Path | None
    bank: Bank | None
    threads: int = 1

    @classmethod
    def of(cls, cues: dict[str, Any], length: int, base: Path | None, threads: int = 1) -> ObjectSounds:
        """The objects of a validated cue sheet, with its bank loaded when a sound needs it."""
        bank = None
        if any(o["sound"]["kind"] == "bank" for o in cues["objects"]):
            if not cues.get("bank"):
                raise CueError("cue sheet: a 'bank' sound needs the cue sheet's 'bank' folder")
            bank = Bank.load(resolve(cues["bank"], base))
        return cls(cues, length, base, bank, threads)

    def __len__(self) -> int:
        return len(self.cues["objects"])

    def panned(self, i: int) -> Tensor:
        """Object ``i``'s mono track, panned and at its gain. Shapes: -> ``(2, L)``."""
        obj = self.cues["objects"][i]
        where = f"objects[{i}] ({obj['id']})"
        pan = torch.tensor([obj["pan"]]).double()  # float32 first: the pan as mixdown has always read it
        gain_db = torch.tensor([obj["gain_db"]]).double()
        with torch_threads(self.threads):
            track = object_track(obj, self.length, self.cues["sample_rate"], self.bank, self.base, where)
            return mixdown.spatialize(track.float()[None], pan, gain_db)[0]

    def bus(self) -> Tensor:
        """Every object panned and summed, one at a time, with progress on large cue sheets. ``-> (2, L)``."""
        objects = self.cues["objects"]
        total = sum(len(o["events"]) for o in objects)
        bus = torch.zeros(2, self.length)
        with tqdm(total=total, desc="foley", unit="event", disable=len(objects) < 8 and total < 5000) as bar:
            for i, obj in enumerate(objects):
                bus += self.panned(i)
                bar.update(len(obj["events"]))
        return bus


class Stems(Sequence[Tensor]):
    """Each object's stem as it sits in the master (panned, ducked, at master gain), ``(2, L)`` per object.

    A stem is rendered again when asked for (rendering is a pure function of the cue sheet), so a cue sheet
    with hundreds of objects never holds them all: writing them costs a second synthesis of each object
    instead of ``N x 2 x L`` floats of memory. :meth:`stack` gives them all at once, ``(N, 2, L)``.
    """

    def __init__(self, sounds: ObjectSounds, mix: mixdown.Mix) -> None:
        self.sounds, self.mix = sounds, mix

    def __len__(self) -> int:
        return len(self.sounds)

    def __getitem__(self, i: int) -> Tensor:  # type: ignore[override] - integers only, no slices
        if not -len(self) <= i < len(self):
            raise IndexError(f"stem {i} of {len(self)}")
        return mixdown.master_stem(self.sounds.panned(i % len(self)), self.mix)

    def stack(self) -> Tensor:
        """All stems. Shapes: -> ``(N, 2, L)``."""
        return torch.stack(list(self)) if len(self) else torch.zeros(0, 2, self.sounds.length)
