"""A sound bank: per visual prototype, event-aligned snippets of sound; its folder format and its lookup.

Built by ``pixelsound bank build`` (:mod:`pixelsound.bank`); used by Foley (:mod:`pixelsound.spotting` looks
objects up in it, :mod:`pixelsound.objectsound` plays its snippets).

Stored as ``bank/bank.safetensors`` (centroids, radii, snippet audio in float16 with offsets, per-snippet
prototype and strength) and ``bank/bank.json`` (sample rate, model, prototypes with categories). No pickles.

Lookup (:meth:`Bank.nearest`): a region's visual vector -> the nearest prototype and its cosine distance;
:meth:`Bank.accepts` says whether it is within the prototype's radius, :meth:`Bank.choose` picks the snippet
closest in strength to an event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from pixelsound.errors import UserError

BANK_VERSION = 1
WEIGHTS = "bank.safetensors"
MANIFEST = "bank.json"


class BankError(UserError, ValueError):
    """A bank folder is missing, incomplete or inconsistent; the message names the file and why."""


@dataclass
class Bank:
    """Prototypes and their snippets.

    Attributes:
        sample_rate: rate of the snippets.
        centroids: unit-length prototype vectors, ``(P, K)``.
        radius: per prototype, the cosine distance within which a visual vector counts as a match, ``(P,)``.
        categories: per prototype, the majority category of its clips (None without labels).
        purity: per prototype, the share of its labelled clips in that category.
        snippets: the snippets, each ``(L_s,)`` float32.
        owner: prototype of each snippet, ``(S,)``.
        strength: strength of each snippet (peak level of its first 50 ms), ``(S,)``.
        info: build settings and sources (model, index, clips per prototype).
    """

    sample_rate: int
    centroids: Tensor
    radius: Tensor
    categories: list[str | None]
    purity: list[float]
    snippets: list[Tensor]
    owner: Tensor
    strength: Tensor
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.centroids)

    def nearest(self, feature: Tensor, category: str | None = None) -> tuple[int, float]:
        """Nearest prototype to a visual vector ``(K,)`` and its cosine distance (0 same direction .. 2);
        with ``category``, the nearest among that category's prototypes when the bank has any."""
        if feature.shape[-1] != self.centroids.shape[1]:
            raise BankError(
                f"visual vector has {feature.shape[-1]} components, the bank's prototypes "
                f"{self.centroids.shape[1]} (built with another model?)"
            )
        sims = self.centroids @ F.normalize(feature.float(), dim=-1)  # (P,)
        allowed = torch.tensor([c == category for c in self.categories])
        if category is not None and bool(allowed.any()):
            sims = sims.masked_fill(~allowed, -2.0)
        best = int(sims.argmax())
        return best, float(1 - sims[best])

    def accepts(self, prototype: int, distance: float) -> bool:
        """Whether a visual vector at ``distance`` belongs to ``prototype`` (within its radius)."""
        return distance <= float(self.radius[prototype]) and bool((self.owner == prototype).any())

    def members(self, prototype: int) -> Tensor:
        """Indices of a prototype's snippets, ``(S_p,)``."""
        return (self.owner == prototype).nonzero().flatten()

    def choose(self, prototype: int, strength: float, rng: np.random.Generator) -> int:
        """A snippet of the prototype close in strength (relative to its strongest): at random among the (at
        most three) nearest that are within 0.1 of the nearest."""
        idx = self.members(prototype)
        if not len(idx):
            raise BankError(f"prototype {prototype} has no snippets")
        top = float(self.strength[idx].max())
        gaps = (self.strength[idx] / max(top, 1e-9) - strength).abs()
        order = torch.argsort(gaps)[:3]
        close = order[gaps[order] <= gaps[order[0]] + 0.1]
        return int(idx[close[int(rng.integers(0, len(close)))]])

    def save(self, folder: str | Path) -> Path:
        """Write ``bank.safetensors`` and ``bank.json`` into ``folder`` (created)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        lengths = torch.tensor([len(s) for s in self.snippets], dtype=torch.long)
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
        audio = torch.cat(self.snippets).half() if self.snippets else torch.zeros(0, dtype=torch.float16)
        tensors = {
            "centroids": self.centroids.float().contiguous(),
            "radius": self.radius.float().contiguous(),
            "audio": audio.contiguous(),
            "offsets": offsets,
            "owner": self.owner.long().contiguous(),
            "strength": self.strength.float().contiguous(),
        }
        save_file(tensors, str(folder / WEIGHTS))
        manifest = {
            "version": BANK_VERSION,
            "sample_rate": self.sample_rate,
            "prototypes": [
                {"id": p, "category": c, "purity": round(u, 4), "snippets": int((self.owner == p).sum())}
                for p, (c, u) in enumerate(zip(self.categories, self.purity, strict=True))
            ],
            "info": self.info,
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Bank:
        """Read a bank folder written by :meth:`save`.

        Raises:
            BankError: missing files, a foreign file or inconsistent contents (naming the file).
        """
        folder = Path(folder)
        folder = folder.parent if folder.is_file() else folder
        weights, manifest = folder / WEIGHTS, folder / MANIFEST
        for need in (weights, manifest):
            if not need.is_file():
                raise BankError(f"{need}: missing (build a bank with `pixelsound bank build`)")
        try:
            meta = json.loads(manifest.read_text())
            tensors = load_file(str(weights))
        except (ValueError, SafetensorError, OSError) as err:
            raise BankError(f"{folder}: unreadable bank ({err})") from None
        return cls._from_parts(folder, meta, tensors)

    @classmethod
    def _from_parts(cls, folder: Path, meta: dict, tensors: dict[str, Tensor]) -> Bank:
        need = {"centroids", "radius", "audio", "offsets", "owner", "strength"}
        if meta.get("version") != BANK_VERSION or not need <= set(tensors):
            raise BankError(
                f"{folder}: not a version-{BANK_VERSION} bank (missing {sorted(need - set(tensors))})"
            )
        protos = meta.get("prototypes", [])
        if len(protos) != len(tensors["centroids"]):
            raise BankError(
                f"{folder / MANIFEST}: {len(protos)} prototypes listed, {len(tensors['centroids'])} stored"
            )
        audio, offsets = tensors["audio"].float(), tensors["offsets"]
        snippets = [audio[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
        return cls(
            int(meta["sample_rate"]),
            F.normalize(tensors["centroids"].float(), dim=1),
            tensors["radius"],
            [p.get("category") for p in protos],
            [float(p.get("purity", 0.0)) for p in protos],
            snippets,
            tensors["owner"],
            tensors["strength"],
            {**meta.get("info", {}), "path": str(folder)},
        )
