"""The Foley cue sheet (``*.cues.json``): its schema, its validation, and safe file names from it.

A cue sheet is a JSON object that says everything :func:`pixelsound.soundtrack.render` needs; rendering is
a pure function of it. :func:`validate` checks the whole sheet before anything is rendered and reports every
problem as ``FILE: KEY: what is wrong`` (for example ``cues.json: objects[2].pan: must be a number in
[-1, 1], got 'left'``), then returns a copy with defaults filled in. Keys it does not know are kept and
named in a warning (detection writes a few informational ones: ``box``, ``x``, ``area``, ``colour``, ...).

Schema (``key: type [range] = default -- meaning``; keys without a default are required):

Top level
    version: integer = 1 -- the cue sheet format.
    duration: number [0.001, 86400] -- seconds of the soundtrack.
    video: string | null = null -- the video to put it on (relative: to the cue sheet's folder).
    sample_rate: integer [8000, 192000] = 44100 -- Hz.
    room: one of dry, room, hall, outdoor = room -- the shared reverb.
    target_lufs: number [-60, -5] = -16 -- loudness of the whole mix.
    peak_db: number [-20, 0] = -1 -- true-peak ceiling, dBTP.
    seed: integer [0, 2**32) = 0 -- reverb and ambience randomness.
    bank: string | null = null -- sound bank folder (for ``bank`` sounds).
    objects: list of objects (below) = [].
    ambience: ambience (below) | a bed name | null = null -- the environment bed.
    voice: list of voice lines (below) = [].
    voice_db: number [-30, 30] = 3 -- loudness of a 0 dB voice line relative to the objects, LU.
    duck: ducking (below) = defaults -- how the rest drops while a voice speaks.
    original: {"level_db": number [-60, 12] = 0} | null = null -- mix the video's own sound in (levelled
    relative to the objects, ducked like them).

Object (``objects[i]``)
    id: string -- its name (file names are made safe from it).
    sound: {"kind": "modal", "material": one of the modal materials = plastic, "size": number
    [0.01, 100] = 1, "seed": integer = 0} | {"kind": "bank", "prototype": integer >= 0, "seed": integer = 0}
    | {"kind": "file", "path": string} -- what it sounds like.
    events: list of {"time": number [0, duration], "strength": number [0, 1.5] = 0.7, "snippet": integer
    >= 0 | null = null}.
    pan: number [-1, 1] = 0 -- left .. right.
    gain_db: number [-60, 24] = 0.
    mute: boolean = false.
    label: string | null = null -- its stem is ``<id>_<label>.wav``.

Ambience (``ambience``)
    name: one of room_tone, wind, rain, rumble, crowd, chirps, water, none -- the bed
    (:mod:`pixelsound.ambience`).
    level_db: number [-60, 12] = the bed's default -- loudness relative to the objects, LU.
    width: number [0, 1] = 0.8 -- stereo spread.
    seed: integer [0, 2**32) = 0.
    params: object = {} -- the bed's parameters (each bed's names and ranges: ``ambience.BEDS``).

Voice line (``voice[i]``)
    text: string (1 to 2000 characters) -- what is said.
    start: number [0, duration) -- seconds at which speech starts.
    voice: string of letters, digits, ``-+_`` (at most 40) = "" -- the engine's voice ("": its default; for
    espeak-ng e.g. ``en``, ``en-us``, ``fr``, ``en+f3``).
    rate: number [0.5, 3] = 1 -- speed relative to normal.
    pan: number [-1, 1] = 0.
    gain_db: number [-30, 20] = 0.

Ducking (``duck``)
    depth_db: number [0, 40] = 10; attack: number [0.001, 2] = 0.08; release: number [0.01, 10] = 0.4;
    hold: number [0, 5] = 0.25; threshold_db: number [-80, -3] = -35 (see :class:`pixelsound.mixdown.Duck`).
"""

from __future__ import annotations

import copy
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from pixelsound import ambience, mixdown, modal
from pixelsound.errors import UserError

log = logging.getLogger(__name__)


class CueError(UserError, ValueError):
    """A cue sheet is malformed; the message says where (file, key) and why."""


@dataclass(frozen=True)
class Key:
    """One key of a section: its type (``number``, ``integer``, ``string``, ``boolean``, ``list``, ``object``,
    ``choice``), whether null is allowed, its range or choices, and its default (``REQUIRED``: none)."""

    kind: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False
    open_high: bool = False


REQUIRED = object()
INFO = Key("any", None, nullable=True)  # informational keys written by detection, not checked

TOP: dict[str, Key] = {
    "version": Key("integer", 1, 1, 1000),
    "video": Key("string", None, nullable=True),
    "duration": Key("number", REQUIRED, 0.001, 86400.0),
    "fps": INFO, "width": INFO, "height": INFO, "room_source": INFO, "model": INFO, "scene": INFO,
    "sample_rate": Key("integer", 44100, 8000, 192000),
    "room": Key("choice", "room", choices=tuple(mixdown.ROOMS)),
    "target_lufs": Key("number", -16.0, -60.0, -5.0),
    "peak_db": Key("number", -1.0, -20.0, 0.0),
    "seed": Key("integer", 0, 0, 2**32 - 1),
    "bank": Key("string", None, nullable=True),
    "objects": Key("list", []),
    "ambience": Key("any", None, nullable=True),  # an object, a bed name or null: see _ambience
    "voice": Key("list", []),
    "voice_db": Key("number", 3.0, -30.0, 30.0),
    "duck": Key("object", {}),
    "original": Key("object", None, nullable=True),
}  # fmt: skip
OBJECT: dict[str, Key] = {
    "id": Key("string", REQUIRED),
    "sound": Key("object", REQUIRED),
    "events": Key("list", REQUIRED),
    "pan": Key("number", 0.0, -1.0, 1.0),
    "gain_db": Key("number", 0.0, -60.0, 24.0),
    "mute": Key("boolean", False),
    "label": Key("string", None, nullable=True),
    "category": INFO, "box": INFO, "x": INFO, "area": INFO, "colour": INFO, "detector": INFO,
}  # fmt: skip
SOUNDS: dict[str, dict[str, Key]] = {
    "modal": {
        "kind": Key("choice", "modal", choices=("modal", "bank", "file")),
        "material": Key("choice", "plastic", choices=tuple(modal.MATERIALS)),
        "size": Key("number", 1.0, 0.01, 100.0),
        "seed": Key("integer", 0, 0, 2**32 - 1),
        "material_confidence": INFO,
    },
    "bank": {
        "kind": Key("choice", "bank", choices=("bank",)),
        "prototype": Key("integer", REQUIRED, 0, 10**6),
        "seed": Key("integer", 0, 0, 2**32 - 1),
        "distance": INFO,
    },
    "file": {"kind": Key("choice", "file", choices=("file",)), "path": Key("string", REQUIRED)},
}
EVENT: dict[str, Key] = {
    "time": Key("number", REQUIRED, 0.0, None),  # high: the duration, set per sheet
    "strength": Key("number", 0.7, 0.0, 1.5),
    "snippet": Key("integer", None, 0, 10**9, nullable=True),
}
AMBIENCE: dict[str, Key] = {
    "name": Key("choice", REQUIRED, choices=(*ambience.BEDS, ambience.NONE)),
    "level_db": Key("number", None, -60.0, 12.0, nullable=True),
    "width": Key("number", 0.8, 0.0, 1.0),
    "seed": Key("integer", 0, 0, 2**32 - 1),
    "params": Key("object", {}),
    "source": INFO,
}
VOICE: dict[str, Key] = {
    "text": Key("string", REQUIRED),
    "start": Key("number", REQUIRED, 0.0, None, open_high=True),  # high: the duration
    "voice": Key("string", ""),
    "rate": Key("number", 1.0, 0.5, 3.0),
    "pan": Key("number", 0.0, -1.0, 1.0),
    "gain_db": Key("number", 0.0, -30.0, 20.0),
}
DUCK: dict[str, Key] = {
    "depth_db": Key("number", 10.0, 0.0, 40.0),
    "attack": Key("number", 0.08, 0.001, 2.0),
    "release": Key("number", 0.4, 0.01, 10.0),
    "hold": Key("number", 0.25, 0.0, 5.0),
    "threshold_db": Key("number", -35.0, -80.0, -3.0),
}
ORIGINAL: dict[str, Key] = {"level_db": Key("number", 0.0, -60.0, 12.0)}
VOICE_NAME = re.compile(r"[A-Za-z0-9_+\-]{0,40}")
MAX_PROBLEMS = 6  # at most this many problems are spelled out in one message


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _type_problem(value: Any, key: Key) -> str | None:
    """Why ``value`` does not fit ``key`` (None when it does)."""
    if value is None:
        return None if key.nullable else f"must be {_a(key.kind)}{_range(key)}, got null"
    if key.kind in ("number", "integer"):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or (key.kind == "integer" and not float(value).is_integer()):
            return f"must be {_a(key.kind)}{_range(key)}, got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number{_range(key)}, got {value!r}"
        below = key.low is not None and value < key.low
        above = key.high is not None and (value >= key.high if key.open_high else value > key.high)
        return f"must be {_a(key.kind)}{_range(key)}, got {value!r}" if below or above else None
    expected = {"string": str, "boolean": bool, "list": list, "object": dict}.get(key.kind)
    if expected is not None and not isinstance(value, expected):
        return f"must be {_a(key.kind)}, got {value!r}"
    if key.kind == "choice" and value not in key.choices:
        return f"must be one of {', '.join(key.choices)}, got {value!r}"
    return None


def _range(key: Key) -> str:
    if key.low is None and key.high is None:
        return ""
    close = ")" if key.open_high else "]"
    return f" in [{_fmt(key.low)}, {_fmt(key.high)}{close}"


def _fmt(x: float | None) -> str:
    return "-inf" if x is None else f"{x:g}"


class _Checker:
    """Collects problems as ``KEY: why`` and warns once per unknown key."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.unknown: set[str] = set()

    def section(self, data: Any, keys: dict[str, Key], where: str, limits: dict | None = None) -> dict:
        """Check one section (an object), fill its defaults and return the filled copy."""
        if not isinstance(data, dict):
            self.problems.append(f"{where}: must be an object, got {data!r}")
            return {}
        out = dict(data)
        for name, key in keys.items():
            key = (limits or {}).get(name, key)
            label = f"{where}.{name}" if where else name
            if name not in data:
                if key.default is REQUIRED:
                    self.problems.append(f"{label}: missing (required)")
                elif key is not INFO and key.default is not None:  # nulls stay unwritten
                    out[name] = copy.deepcopy(key.default)
                continue
            if key is not INFO and (why := _type_problem(data[name], key)):
                self.problems.append(f"{label}: {why}")
        for name in data.keys() - keys.keys():
            self.unknown.add(f"{where}.{name}" if where else name)
        return out


def _with_high(key: Key, high: float) -> Key:
    return Key(key.kind, key.default, key.low, high, key.choices, key.nullable, key.open_high)


def validate(data: Any, where: str = "cue sheet") -> dict[str, Any]:
    """Check a whole cue sheet against the schema (module docstring) and fill in its defaults.

    Args:
        data: the parsed JSON.
        where: the file name (or a word) every message starts with.

    Returns:
        A copy of the sheet with every default filled in (nested sections too).

    Raises:
        CueError: one line naming the file and each bad key (the first few of them, and how many more).
    """
    if not isinstance(data, dict):
        raise CueError(
            f"{where}: expected a JSON object with 'duration' and 'objects', got {type(data).__name__}"
        )
    check = _Checker()
    sheet = check.section(data, TOP, "")
    duration = sheet["duration"] if not _type_problem(sheet.get("duration"), TOP["duration"]) else math.inf
    if isinstance(sheet.get("objects"), list):
        sheet["objects"] = [
            _object(check, o, f"objects[{i}]", duration) for i, o in enumerate(sheet["objects"])
        ]
    if isinstance(sheet.get("voice"), list):
        sheet["voice"] = [_line(check, v, f"voice[{i}]", duration) for i, v in enumerate(sheet["voice"])]
    sheet["ambience"] = _ambience(check, sheet.get("ambience"))
    if isinstance(sheet.get("duck"), dict):
        sheet["duck"] = check.section(sheet["duck"], DUCK, "duck")
    if isinstance(sheet.get("original"), dict):
        sheet["original"] = check.section(sheet["original"], ORIGINAL, "original")
    if check.problems:
        shown = "; ".join(check.problems[:MAX_PROBLEMS])
        more = len(check.problems) - MAX_PROBLEMS
        raise CueError(f"{where}: {shown}" + (f" (and {more} more problems)" if more > 0 else ""))
    if check.unknown:
        log.warning("%s: keys not in the schema, ignored: %s", where, ", ".join(sorted(check.unknown)[:10]))
    return sheet


def _object(check: _Checker, obj: Any, where: str, duration: float) -> dict:
    out = check.section(obj, OBJECT, where)
    if isinstance(out.get("sound"), dict):
        kind = out["sound"].get("kind", "modal")
        keys = SOUNDS.get(kind) if isinstance(kind, str) else None
        if keys is None:
            check.problems.append(f"{where}.sound.kind: must be one of modal, bank, file, got {kind!r}")
        else:
            out["sound"] = check.section(out["sound"], keys, f"{where}.sound")
    if isinstance(out.get("events"), list):
        limits = {"time": _with_high(EVENT["time"], duration)}
        out["events"] = [
            check.section(e, EVENT, f"{where}.events[{j}]", limits) for j, e in enumerate(out["events"])
        ]
    return out


def _line(check: _Checker, line: Any, where: str, duration: float) -> dict:
    out = check.section(line, VOICE, where, {"start": _with_high(VOICE["start"], duration)})
    text = out.get("text")
    if isinstance(text, str) and not 1 <= len(text.strip()) <= 2000:
        check.problems.append(f"{where}.text: must have 1 to 2000 characters, got {len(text.strip())}")
    name = out.get("voice")
    if isinstance(name, str) and not VOICE_NAME.fullmatch(name):
        check.problems.append(f"{where}.voice: must be letters, digits, '-+_' (at most 40), got {name!r}")
    return out


def _ambience(check: _Checker, value: Any) -> dict | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        check.problems.append(f"ambience: must be an object, a bed name or null, got {value!r}")
        return None
    out = check.section(value, AMBIENCE, "ambience")
    name = out.get("name")
    if name in ambience.BEDS and isinstance(out.get("params"), dict):
        try:
            out["params"] = ambience.resolve_params(name, out["params"])
        except ValueError as err:
            check.problems.append(f"ambience.params: {err}")
        if out.get("level_db") is None:
            out["level_db"] = ambience.spec(name).level_db
    return None if name == ambience.NONE else out


def safe_name(text: Any, fallback: str = "object") -> str:
    """A file-name piece from any text: letters, digits, ``-`` and ``_`` only (others become ``_``), no
    leading dots or dashes, at most 40 characters; never a path."""
    name = "".join(c if (c.isascii() and c.isalnum()) or c in "-_" else "_" for c in str(text))[:40]
    name = name.lstrip("-_")
    return name or fallback
