"""Atomic files, training checkpoints and released models.

Two kinds of files, kept apart:

- a **training checkpoint** (``last.pt``): everything needed to continue exactly — model and optimizer
  state, step / epoch / batch position, the config as a plain dict and every random state (python, numpy,
  torch, the trainer's generators) — written with ``torch.save`` as tensors, numbers, strings, lists and dicts
  only, and read back with ``torch.load(weights_only=True)``: loading never unpickles code.
- a **released model** (a folder): ``model.safetensors`` (the weights) and ``config.json`` (the Config that
  builds the model, plus free-form info such as the validation SDR).

Every file is written atomically (:mod:`pixelsound.atomic`: a temporary file in the same folder, flushed to
disk and renamed over the target), so a crash or a kill leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn

from pixelsound.atomic import save_atomic, write_bytes_atomic, write_text_atomic
from pixelsound.config import Config, ConfigError, from_dict, replace
from pixelsound.errors import UserError
from pixelsound.widen import WIDEN_KEYS, widen_state

# pixelsound.model is imported inside the loaders: it costs ~1.1 s (torchvision), which `foley` (no --model by
# default) and `evaluate --help` would pay for a model they never build.
if TYPE_CHECKING:
    from pixelsound.model import SoundOfPixels

    ModelSpec = str | Path | SoundOfPixels | None  # a release path, a loaded model, or None: the bundled one

TRAIN_FORMAT = "pixelsound-train"
RELEASE_FORMAT = "pixelsound-release"
VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
BUNDLED_MODEL = Path(__file__).parent / "assets" / "model"  # the release shipped inside the package
NO_MODEL = "none"  # "no model", where a verb can run without one (None means the bundled model everywhere)


class CheckpointError(UserError, ValueError):
    """A checkpoint or release file is missing, foreign or does not fit the model; the message names it."""


# ------------------------------------------------------------------------------------------ random states


def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Every random state as plain data: python, numpy (global), torch CPU (and CUDA), named generators."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    """Restore what :func:`rng_state` saved (generators are restored in place)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    saved = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": saved["key"].numpy().astype(np.uint32), "pos": saved["pos"]},
            "has_gauss": saved["has_gauss"],
            "gauss": saved["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, g in (generators or {}).items():
        g.set_state(state["generators"][name])


# ------------------------------------------------------------------------------------------ training state


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside a DistributedDataParallel (or similar ``.module``) wrapper."""
    return model.module if hasattr(model, "module") else model


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save a training state (see :func:`load_checkpoint` for its keys) atomically, tagged with the format."""
    return save_atomic({"format": TRAIN_FORMAT, "version": VERSION, **state}, path)


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with errors that name the file."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means "not ours"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path}: not a pixelsound checkpoint: it cannot be read as plain tensors ({reason[:200]})"
        ) from None


def _describe(obj: Any) -> str:
    """A short description of an unexpected object loaded from a file."""
    if isinstance(obj, dict):
        keys = list(obj)[:5]
        return f"a dict with keys {keys}{' ...' if len(obj) > 5 else ''}"
    return f"a {type(obj).__name__}"


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint with ``weights_only=True`` and check it is one.

    Returns:
        A dict with at least ``model`` (state dict), ``optimizer`` (state dict), ``config`` (nested dict),
        ``step``, ``epoch``, ``batch`` (batches done in the epoch) and ``rng`` (see :func:`rng_state`).

    Raises:
        CheckpointError: the file is missing, holds pickled objects, or is not a pixelsound training
            checkpoint.
    """
    path = Path(path)
    state = _torch_load(path)
    if not isinstance(state, dict) or state.get("format") != TRAIN_FORMAT:
        raise CheckpointError(
            f"{path}: not a pixelsound training checkpoint (expected format {TRAIN_FORMAT!r}; found "
            f"{_describe(state)})"
        )
    missing = [k for k in ("model", "optimizer", "config", "step", "epoch", "batch", "rng") if k not in state]
    if missing:
        raise CheckpointError(f"{path}: training checkpoint lacks {', '.join(missing)}")
    return state


def config_from(data: Any, where: str | Path) -> Config:
    """Build a Config from the dict stored in a file, or raise CheckpointError naming the file."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{where}: the stored config is {_describe(data)}, not a table of sections")
    try:
        return from_dict(data, where=str(where))
    except ConfigError as err:
        raise CheckpointError(f"{where}: stored config does not fit this pixelsound version: {err}") from None


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], where: str | Path) -> None:
    """Raise CheckpointError, naming the file, when ``state`` does not fit ``model`` (keys or shapes)."""
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    wrong = [
        f"{k} {tuple(state[k].shape)} (model: {tuple(v.shape)})"
        for k, v in want.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    if problems:
        raise CheckpointError(f"{where}: weights do not fit the model of its config: " + "; ".join(problems))


# ------------------------------------------------------------------------------------------ releases


def write_release(
    directory: str | Path,
    model: nn.Module,
    cfg: Config,
    info: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write a released model: ``model.safetensors`` + ``config.json`` in ``directory`` (each file atomic).

    Args:
        directory: the release folder (created).
        model: the trained model (a DDP wrapper is unwrapped).
        cfg: the Config that builds it.
        info: JSON-able extras stored in ``config.json`` (e.g. step, validation SDR).
        half: store float weights as float16 (half the size, e.g. the release bundled in git); they load
            into the float32 model as before. A tensor float16 cannot hold (beyond its range) stays float32.

    Returns:
        The folder.
    """
    directory = Path(directory)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in unwrap(model).state_dict().items()}
    if half:
        tensors = {k: _half(v) for k, v in tensors.items()}
    meta = {"format": RELEASE_FORMAT, "version": str(VERSION)}
    write_bytes_atomic(safetensors_bytes(tensors, metadata=meta), directory / WEIGHTS_FILE)
    record = {"format": RELEASE_FORMAT, "version": VERSION, "config": cfg.to_dict(), "info": info or {}}
    write_text_atomic(json.dumps(record, indent=2, sort_keys=True) + "\n", directory / CONFIG_FILE)
    return directory


def _half(tensor: Tensor) -> Tensor:
    """``tensor`` as float16 when it is floating point and within float16's range, else unchanged."""
    if not tensor.is_floating_point() or tensor.numel() == 0:
        return tensor
    return tensor.half() if tensor.abs().max() < torch.finfo(torch.float16).max else tensor


def _read_release_config(path: Path) -> Config:
    """Read ``config.json`` of a release."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: missing; a release folder holds {WEIGHTS_FILE} and {CONFIG_FILE}"
        ) from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(record, dict) or record.get("format") != RELEASE_FORMAT or "config" not in record:
        raise CheckpointError(f"{path}: not a pixelsound release config (expected format {RELEASE_FORMAT!r})")
    return config_from(record["config"], path)


def _read_release_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read ``model.safetensors`` of a release (float16 weights, see :func:`write_release`, as float32)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None
    if meta.get("format") != RELEASE_FORMAT:
        raise CheckpointError(f"{path}: safetensors file without the pixelsound tag (metadata {meta})")
    return {k: v.float() if v.dtype == torch.float16 else v for k, v in tensors.items()}


def _release_parts(path: Path) -> tuple[dict[str, torch.Tensor], Config]:
    """Weights and config from a release folder, its weights or config file, or a training checkpoint."""
    if path.is_dir():
        return _read_release_weights(path / WEIGHTS_FILE), _read_release_config(path / CONFIG_FILE)
    if path.name == CONFIG_FILE or path.suffix == ".safetensors":
        return _release_parts(path.parent)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or folder")
    state = load_checkpoint(path)
    return state["model"], config_from(state["config"], path)


def load_release(path: str | Path, device: str | torch.device = "cpu") -> tuple[SoundOfPixels, Config]:
    """Load a released model (or the model inside a training checkpoint) in eval mode.

    Args:
        path: a release folder, its ``model.safetensors`` or ``config.json``, or a ``.pt`` training
            checkpoint.
        device: where to put the model.

    Returns:
        ``(model, cfg)``; ``cfg.model.frame_weights`` is cleared since the weights come from the release.

    Raises:
        CheckpointError: missing files, a foreign file (e.g. the original Sound-of-Pixels ``.pth``), or
            weights whose keys or shapes do not fit the stored config; the message names the file and why.
    """
    from pixelsound.model import SoundOfPixels  # ~1.1 s: see the note at the imports

    path = Path(path)
    weights, cfg = _release_parts(path)
    cfg = replace(cfg, model={"frame_weights": ""})
    model = SoundOfPixels(cfg)
    check_state_dict(model, weights, path)
    model.load_state_dict(weights)
    return model.to(device).eval(), cfg


def load_model(model: ModelSpec = None, device: str | None = None) -> SoundOfPixels:
    """The one model loader of the verbs: a loaded model, a release folder / checkpoint, or None (bundled).

    Args:
        model: a release folder, its ``model.safetensors`` / ``config.json``, a ``.pt`` training checkpoint, a
            loaded SoundOfPixels, or None for the release bundled in the package.
        device: where to put it (None: a loaded model stays where it is, a file loads on the CPU).

    Returns:
        the model in eval mode.

    Raises:
        CheckpointError: as :func:`load_release`, no bundled model in this installation, or not a model.
    """
    from pixelsound.model import SoundOfPixels  # ~1.1 s: see the note at the imports

    if isinstance(model, SoundOfPixels):
        return (model if device is None else model.to(device)).eval()
    if model is None:
        if not (BUNDLED_MODEL / CONFIG_FILE).is_file():
            raise CheckpointError(f"{BUNDLED_MODEL}: no bundled model in this installation; pass --model")
        model = BUNDLED_MODEL
    if not isinstance(model, str | Path):
        raise CheckpointError(f"expected a release path or a SoundOfPixels model, got {type(model).__name__}")
    return load_release(model, device=device or "cpu")[0]


def optional_model(model: ModelSpec = None, device: str | None = None) -> SoundOfPixels | None:
    """:func:`load_model`, except that :data:`NO_MODEL` (``"none"``) gives None: the explicit "no model" of
    the verbs that can run without one (``score``'s motion-only mode, ``foley`` without regions' vectors)."""
    return None if is_no_model(model) else load_model(model, device)


def is_no_model(model: object) -> bool:
    """Whether ``model`` is :data:`NO_MODEL` (as a string or a path, e.g. from a ``--model`` option)."""
    return isinstance(model, str | Path) and str(model) == NO_MODEL


def release_prototypes(model: ModelSpec = None) -> dict[str, Tensor] | None:
    """Category prototypes stored in a release's ``config.json`` under ``info.prototypes``: of the release
    at a path, of the bundled release (None), or none (a loaded model, :data:`NO_MODEL`, or none stored)."""
    if model is None:
        model = BUNDLED_MODEL
    if not isinstance(model, str | Path) or is_no_model(model):
        return None
    path = Path(model)
    config = path / CONFIG_FILE if path.is_dir() else path.with_name(CONFIG_FILE)
    try:
        info = json.loads(config.read_text()).get("info", {})
    except (OSError, ValueError, AttributeError):
        return None
    found = info.get("prototypes") if isinstance(info, dict) else None
    if not isinstance(found, dict) or not found:
        return None
    return {str(k): torch.tensor(v, dtype=torch.float32) for k, v in found.items()}


# ------------------------------------------------------------------------------------------ starting weights

# model settings that change what training optimizes, not the weights: a release trained with other values is
# a fine starting point (``frame_weights`` is only where the first weights came from)
INIT_FREE_KEYS = (
    "model.frame_weights", "model.mask", "model.binary_threshold", "model.pool_top", "model.compete",
)  # fmt: skip


def config_differences(release: Config, cfg: Config, free: tuple[str, ...] = INIT_FREE_KEYS) -> list[str]:
    """``section.key (release R, recipe C)`` for every audio / frames / model setting that must match to start
    from a release's weights but does not (the keys of ``free`` may differ)."""
    found = []
    for section in ("audio", "frames", "model"):
        ours, theirs = getattr(cfg, section), getattr(release, section)
        for key, value in theirs.__dict__.items():
            name = f"{section}.{key}"
            if name not in free and getattr(ours, key) != value:
                found.append(f"{name} (release {value!r}, recipe {getattr(ours, key)!r})")
    return found


def load_init_weights(model: nn.Module, path: str | Path, cfg: Config) -> Config:
    """Copy a release's weights into ``model`` (``train --init``), after checking the configs agree.

    Args:
        model: the freshly built model of ``cfg`` (a DDP wrapper is unwrapped).
        path: a release folder, its files, or a training checkpoint (as :func:`load_release`).
        cfg: the config the model was built from.

    Returns:
        The release's config.

    Raises:
        CheckpointError: the release cannot be read, or its audio / frames / model settings differ from
            ``cfg``'s; the message names the release and every setting that differs.

    A recipe wider than the release (:data:`pixelsound.widen.WIDEN_KEYS` larger) starts from the release's
    function exactly: :func:`pixelsound.widen.widen_state`.
    """
    path = Path(path)
    weights, release_cfg = _release_parts(path)
    grown = tuple(
        key
        for key in WIDEN_KEYS
        if getattr(cfg.model, key.split(".")[1]) > getattr(release_cfg.model, key.split(".")[1])
    )
    differences = config_differences(release_cfg, cfg, INIT_FREE_KEYS + grown)
    if differences:
        raise CheckpointError(
            f"{path}: cannot start from these weights: the config differs in " + "; ".join(differences)
        )
    if grown:
        try:
            weights = widen_state(weights, unwrap(model), cfg.model.unet_depth)
        except ValueError as err:
            raise CheckpointError(f"{path}: cannot widen these weights: {err}") from None
    check_state_dict(unwrap(model), weights, path)
    unwrap(model).load_state_dict(weights)
    return release_cfg
