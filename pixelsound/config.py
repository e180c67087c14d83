"""Configs as frozen dataclasses, loaded from TOML recipe files with typed ``section.key=value`` overrides.

A recipe file has one table per section (``[audio]``, ``[frames]``, ``[model]``, ``[data]``, ``[train]``)
and may name a base file with a top-level ``base = "other.toml"`` (relative to the file). An unknown section
or key is an error, never a silent default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pixelsound.errors import UserError


class ConfigError(UserError, ValueError):
    """A recipe file or an override is wrong; the message says where and why."""


# a setting the machine may decide: "auto", "true" or "false" (TOML booleans accepted); a plain str at run
# time, so configs stay plain data in checkpoints
Switch = typing.NewType("Switch", str)

SWITCH_VALUES = ("auto", "true", "false")
_SWITCH_ALIASES = {"1": "true", "yes": "true", "on": "true", "0": "false", "no": "false", "off": "false"}


def parse_switch(value: Any, where: str) -> Switch:
    """``True``/``False``/"auto"/"true"/"false" (any case; yes/no/on/off/1/0) -> a :class:`Switch`.

    Raises:
        ConfigError: naming ``where`` for anything else.
    """
    if isinstance(value, bool):
        return Switch("true" if value else "false")
    text = str(value).strip().lower()
    text = _SWITCH_ALIASES.get(text, text)
    if text not in SWITCH_VALUES:
        raise ConfigError(f"{where}: expected auto, true or false, got {value!r}")
    return Switch(text)


@dataclass(frozen=True)
class AudioConfig:
    """Waveform window and spectrogram (paper: 11025 Hz, 65535 samples, n_fft 1022, hop 256, 256 log bins)."""

    sample_rate: int = 11025
    length: int = 65535  # L samples per training window
    n_fft: int = 1022
    hop: int = 256
    log_bins: int = 256  # F after the log-frequency warp


@dataclass(frozen=True)
class FramesConfig:
    """Video frames given to the frame net for one window."""

    num_frames: int = 3  # V frames spread evenly over the audio window
    size: int = 224  # frames are resized to size x size


@dataclass(frozen=True)
class ModelConfig:
    """Sound-of-Pixels architecture (defaults: the paper)."""

    k: int = 32  # K components
    frame_net: str = "resnet18"  # "resnet18" (dilated) or "spacetime" (patch transformer)
    frame_weights: str = ""  # local torchvision state dict for the ResNet (never downloaded)
    frame_layers: int = 4  # ResNet stages kept (4 = full ResNet-18)
    frame_width: int = 64  # ResNet base width (64 = torchvision ResNet-18)
    frame_stride: int = 16  # ResNet output stride, 16 or 8 (the last stages dilated instead of strided)
    unet_depth: int = 7
    unet_channels: int = 64  # channels of the first U-Net level (doubling, capped at 8x)
    mask: str = "binary"  # "binary": source > threshold x mixture (BCE); "dominant": loudest source (BCE);
    # "ratio": source / mixture clamped to [0, 1] (L1)
    binary_threshold: float = 0.5
    pool_top: float = 0.0  # share of a region's cells averaged (per channel) into its vector; 0: the max
    contrast: float = 0.0  # weight of the audio-visual contrastive loss (> 0 adds a SoundEmbedding)
    # separating: the sources of one mixture share each time-frequency bin, m_i^p / sum_j m_j^p x max_j m_j
    # (pixelsound.spec.compete) with this power p; 0: each mask on its own, as the paper
    compete: float = 0.0
    spacetime_patch: int = 16  # spacetime frame net: patch side in pixels
    spacetime_tubelet: int = 1  # frames per spacetime patch
    spacetime_dim: int = 192  # token width
    spacetime_depth: int = 4  # transformer layers
    spacetime_heads: int = 4


@dataclass(frozen=True)
class DataConfig:
    """Where training data comes from and how sources are mixed."""

    train_index: str = ""
    val_index: str = ""
    # an index whose mixtures are separated and logged after every epoch (log.csv column monitor_sdr) but
    # never pick the best model: e.g. the far split's curve, measured without tuning on it
    monitor_index: str = ""
    num_mix: int = 2  # N sources per mixture
    gain_min: float = 0.5
    gain_max: float = 1.5
    workers: int = 0
    cache_dir: str = ""  # decoded clips cached here when set
    memory_items: int = 0  # also keep this many decoded clips in memory (per process)
    colour: bool = False  # training windows: a random room, microphone colouring and noise (rooms.TRAINING)
    # share of training windows played up to 2 semitones faster or slower through a random spectral envelope
    # (pixelsound.timbre): more instruments' timbres than the sound sources hold
    timbre: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping."""

    out_dir: str = "runs/default"
    batch_size: int = 8  # mixtures per step and process (P processes with B / P train like 1 with B)
    epochs: int = 10
    steps_per_epoch: int = 0  # 0: one pass over the training index
    optimizer: str = "sgd"  # "sgd" (momentum), "adam" or "adamw"
    lr_frame: float = 1e-4  # frame net (backbone)
    lr_rest: float = 1e-3  # audio net, synthesizer
    freeze_frame: bool = False  # the frame net keeps its starting weights and BatchNorm statistics (--init)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "constant"  # learning-rate factor after warmup: "constant" or "cosine" (to 0 at the end)
    warmup_steps: int = 0  # linear warmup from 0
    grad_clip: float = 0.0  # max global gradient norm (0: no clipping)
    max_minutes: float = 0.0  # stop after this much training time (0: no limit)
    val_mixes: int = 64
    seed: int = 0
    log_every: int = 10
    save_every: int = 0  # also write last.pt every this many steps (0: at epoch ends and on stop only)
    save_every_minutes: float = 5.0  # also write last.pt every this many minutes of training (0: never)
    device: str = "auto"
    # bfloat16 autocast for the training forward pass: "auto" on where the device computes bf16 natively
    # (pixelsound.precision; 1.5x faster on an AMX CPU, 10x slower where emulated, e.g. AVX2), or true/false
    bf16: Switch = Switch("auto")
    augment: bool = False  # flips, colours, greyscale and line art on training frames (pixelsound.views)
    augment_world: bool = False  # with augment: hue, gamma, warp, light, occluder, blur, blocks, noise
    scene_prob: float = 0.0  # share of steps whose sources are seen side by side in one picture
    scene_silence: bool = False  # scenes: pictures as tiles with silent texture on every side
    scene_decoys: bool = False  # scenes with silence: also an empty tile of another texture, silent too
    # share of training steps on which the ResNet frame net's layer1 and layer2 features of each picture take
    # a random blend of another picture's channel means and spreads (MixStyle; pixelsound.frames.mix_styles)
    mixstyle: float = 0.0


@dataclass(frozen=True)
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    frames: FramesConfig = field(default_factory=FramesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def _convert(value: Any, kind: type, where: str) -> Any:
    """Convert a TOML value or an override string to the field's type, or raise ConfigError."""
    if kind is Switch:
        return parse_switch(value, where)
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                return text.lower() in ("true", "1", "yes")
            return kind(text)
        except ValueError:
            raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _section_types(cls: type) -> dict[str, type]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def from_dict(data: dict[str, Any], where: str = "config") -> Config:
    """Build a Config from nested dicts ``{section: {key: value}}``; unknown names raise ConfigError."""
    sections = _section_types(Config)
    built = {}
    for name, values in data.items():
        if name not in sections:
            raise ConfigError(f"{where}: unknown section [{name}] (known: {', '.join(sections)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        cls = sections[name]
        types = _section_types(cls)
        kwargs = {}
        for key, value in values.items():
            if key not in types:
                raise ConfigError(f"{where}: unknown key {name}.{key} (known: {', '.join(types)})")
            kwargs[key] = _convert(value, types[key], f"{where}: {name}.{key}")
        built[name] = cls(**kwargs)
    return Config(**built)


def _read_toml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: base files form a cycle")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: recipe file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    base = data.pop("base", None)
    if base is None:
        return data
    merged = _read_toml(path.parent / base, seen + (path,))
    for name, values in data.items():
        if isinstance(values, dict):
            merged.setdefault(name, {}).update(values)
        else:
            merged[name] = values
    return merged


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings to nested dicts (values are converted when the Config is built)."""
    for item in overrides:
        name, sep, value = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot or not key:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        data.setdefault(section, {})[key] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a recipe TOML file (or the defaults when path is None) and apply overrides.

    Args:
        path: recipe file; ``base = "..."`` inside it names a file whose values it extends.
        overrides: strings such as ``"train.batch_size=16"``.

    Returns:
        The frozen Config. Relative ``*_index``/``out_dir``/``cache_dir`` paths stay as written (relative to
        the current directory); recipes use paths relative to where their script runs.
    """
    data = _read_toml(Path(path)) if path is not None else {}
    data = apply_overrides(data, list(overrides or []))
    return from_dict(data, where=str(path) if path else "config")


def replace(cfg: Config, **sections: dict[str, Any]) -> Config:
    """Return a copy of cfg with some section fields changed: ``replace(cfg, train={"epochs": 1})``."""
    data = cfg.to_dict()
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return from_dict(data)


def add_overrides_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--set SECTION.KEY=VALUE ...`` (repeatable) into ``args.overrides``, for verbs that load a config."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help=help_text,
    )
