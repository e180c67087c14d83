"""The Sound-of-Pixels model: which parts of a mixture's spectrogram belong to what is seen.

``SoundOfPixels.forward`` reads as the paper's steps:

1. encode audio: STFT of the mixture, log-frequency warp, log magnitude, U-Net -> ``(B, K, F, T)``;
2. encode frames: frame net per source video, max over time and space, sigmoid -> ``(B, N, K)``;
3. synthesize masks: ``mask = sigmoid(sum_k alpha_k v_k s_k + b)`` -> ``(B, N, F, T)`` on the warped grid;
4. apply masks (``separate``): unwarp each mask to linear frequency, multiply the mixture's complex STFT (so
   the mixture's phase is kept) and invert -> ``(B, N, L)``.

The synthesizer is one ``einsum`` (:func:`synthesize`); given per-pixel features ``(B, K, h, w)`` instead of
clip vectors ``(B, N, K)`` it is the same function with the spatial dims kept, which is how pixels are made to
sound.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pixelsound import spec
from pixelsound.config import Config
from pixelsound.frames import (
    ResNetFrames,
    build_frame_net,
    normalize_frames,
    pool_clip,
    pool_pixels,
    pool_regions,
)
from pixelsound.unet import AudioUNet


@dataclass
class Output:
    """What the forward pass gives the loss and the evaluation.

    Attributes:
        masks: predicted masks in [0, 1] on the warped grid, ``(B, N, F, T)``.
        logits: the masks before the sigmoid, ``(B, N, F, T)``.
        mix_mag: warped linear magnitude of the mixture, ``(B, F, T)``.
        mix_spec: complex STFT of the mixture on the linear grid, ``(B, F_lin, T)``.
        visual: the visual vectors the masks were made from, ``(B, N, K)``.
    """

    masks: Tensor
    logits: Tensor
    mix_mag: Tensor
    mix_spec: Tensor
    visual: Tensor


def synthesize(visual: Tensor, audio: Tensor, scale: Tensor, bias: Tensor) -> Tensor:
    """Mask logits ``sum_k scale_k * visual_k * audio_k + bias`` for every source or every pixel.

    Args:
        visual: clip vectors ``(B, N, K)``, or per-pixel features ``(B, K, h, w)``.
        audio: audio components ``(B, K, F, T)``.
        scale: per-component weights ``alpha`` ``(K,)``.
        bias: scalar ``b`` ``(1,)``.

    Returns:
        Logits ``(B, N, F, T)`` for clip vectors, ``(B, h, w, F, T)`` for per-pixel features.
    """
    if visual.dim() == 4:
        visual = visual.movedim(1, -1)  # (B, h, w, K)
    elif visual.dim() != 3:
        raise ValueError(f"synthesize: visual must be (B, N, K) or (B, K, h, w), got {tuple(visual.shape)}")
    return torch.einsum("b...k,k,bkft->b...ft", visual, scale, audio) + bias


class SoundEmbedding(nn.Module):
    """What a solo sounds like, as a vector in the visual vectors' space (for the contrastive loss).

    The mean and spread over time of the log magnitude in each warped frequency bin (level removed, so the
    gain does not matter) through a two-layer MLP: a timbre summary, blind to when the notes fall.

    Shapes:
        mags: warped linear magnitudes ``(..., F, T)`` -> ``(..., K)``
    """

    def __init__(self, bins: int, k: int, hidden: int = 128):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * bins, hidden), nn.ReLU(), nn.Linear(hidden, k))

    def forward(self, mags: Tensor) -> Tensor:
        logmag = spec.log_magnitude(mags.float())  # (..., F, T)
        logmag = logmag - logmag.mean((-2, -1), keepdim=True)
        return self.mlp(torch.cat([logmag.mean(-1), logmag.std(-1)], -1))  # (..., K)


class SoundOfPixels(nn.Module):
    """Frame net + audio U-Net + synthesizer, configured by ``cfg.audio``, ``cfg.frames`` and ``cfg.model``.

    A ``cfg.model.frame_weights`` path is loaded into the ResNet at construction; build with it cleared when
    the weights come from a checkpoint anyway. With ``cfg.model.contrast > 0`` the model also has a
    :class:`SoundEmbedding`, used only by the training loss.
    """

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        a, m = cfg.audio, cfg.model
        matrix = spec.log_freq_matrix(a.n_fft // 2 + 1, a.log_bins, a.sample_rate)
        self.register_buffer("warp_matrix", matrix, persistent=False)  # (F, F_lin)
        self.register_buffer("unwarp_matrix", spec.unwarp_matrix(matrix), persistent=False)  # (F_lin, F)
        self.audio_net = AudioUNet(m.k, m.unet_depth, m.unet_channels)
        self.frame_net = build_frame_net(cfg)
        self.scale = nn.Parameter(torch.ones(m.k))  # alpha, (K,)
        self.bias = nn.Parameter(torch.zeros(1))  # b
        self.sound_embedding = SoundEmbedding(a.log_bins, m.k) if m.contrast > 0 else None
        self.frame_frozen = False  # freeze_frame_net(): the frame net stays as it is through training
        # channels-last conv weights make every 2-D conv run channels-last (measured 1.4x faster on CPU,
        # 2.7x with bf16 autocast); the 3-D spacetime embedding keeps the default layout
        self.audio_net.to(memory_format=torch.channels_last)
        if isinstance(self.frame_net, ResNetFrames):
            self.frame_net.to(memory_format=torch.channels_last)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by learning rate: ``frame`` (the frame net; none when frozen) and ``rest``."""
        frame = list(self.frame_net.parameters())
        ids = {id(p) for p in frame}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return {"frame": [p for p in frame if p.requires_grad], "rest": rest}

    def freeze_frame_net(self) -> None:
        """Train only the rest: the frame net gets no gradients and keeps its BatchNorm statistics."""
        self.frame_frozen = True
        self.frame_net.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> SoundOfPixels:
        super().train(mode)
        if self.frame_frozen:
            self.frame_net.eval()  # BatchNorm uses, and does not update, its running statistics
        return self

    def spectrogram(self, wave: Tensor) -> tuple[Tensor, Tensor]:
        """Complex STFT and warped magnitude. Shapes: ``(..., L)`` -> ``(..., F_lin, T)``, ``(..., F, T)``."""
        a = self.cfg.audio
        with torch.autocast(wave.device.type, enabled=False):  # signal processing stays in float32
            stft = spec.stft(wave.float(), a.n_fft, a.hop)
            return stft, spec.warp(stft.abs(), self.warp_matrix)

    def encode_audio(self, mix_mag: Tensor) -> Tensor:
        """U-Net on the log magnitude. Shapes: ``(B, F, T)`` -> ``(B, K, F, T)``."""
        return self.audio_net(spec.log_magnitude(mix_mag)[:, None])

    def pixel_features(self, frames: Tensor) -> Tensor:
        """Per-pixel visual features in [0, 1]. ``(B, V, 3, H, W)`` uint8 or float -> ``(B, K, h, w)``."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be (B, V, 3, H, W), got {tuple(frames.shape)}")
        return pool_pixels(self.frame_net(normalize_frames(frames)))

    def encode_frames(self, frames: Tensor) -> Tensor:
        """One visual vector per source video. Shapes: ``(B, N, V, 3, H, W)`` -> ``(B, N, K)``."""
        if frames.dim() != 6:
            raise ValueError(f"frames must be (B, N, V, 3, H, W), got {tuple(frames.shape)}")
        b, n = frames.shape[:2]
        pixels = self.pixel_features(frames.flatten(0, 1))  # (B*N, K, h, w)
        return pool_clip(pixels, self.cfg.model.pool_top).unflatten(0, (b, n))  # (B, N, K)

    def encode_scene(self, scene: Tensor, regions: Tensor) -> Tensor:
        """One visual vector per source seen in one picture: the max of the cells inside its region.

        Shapes:
            scene ``(B, V, 3, H, W)``, regions 0/1 in pixels ``(B, N, H, W)`` -> ``(B, N, K)``
        """
        pixels = self.pixel_features(scene)  # (B, K, h, w), in [0, 1]
        inside = F.adaptive_avg_pool2d(regions.float(), pixels.shape[-2:]) > 0.5  # (B, N, h, w)
        return pool_regions(pixels, inside, self.cfg.model.pool_top)  # (B, N, K)

    def synthesize(self, visual: Tensor, audio: Tensor) -> Tensor:
        """Mask logits; see :func:`synthesize`. ``(B, N, K)`` or ``(B, K, h, w)`` with ``(B, K, F, T)``."""
        return synthesize(visual, audio, self.scale, self.bias)

    def forward(self, mix: Tensor, frames: Tensor, regions: Tensor | None = None) -> Output:
        """Predict one mask per source video (or per region of one picture).

        Args:
            mix: mixture waveform ``(B, L)``.
            frames: frames of each source's video, uint8 or float in [0, 1], ``(B, N, V, 3, H, W)``; with
                ``regions``, one scene per mixture ``(B, V, 3, H, W)``.
            regions: where each source is in the scene, 0/1 ``(B, N, H, W)`` (see :mod:`pixelsound.views`).

        Returns:
            :class:`Output` with masks ``(B, N, F, T)``.
        """
        mix_spec, mix_mag = self.spectrogram(mix)  # (B, F_lin, T), (B, F, T)
        audio = self.encode_audio(mix_mag)  # (B, K, F, T)
        if regions is None:
            visual = self.encode_frames(frames)  # (B, N, K)
        else:
            visual = self.encode_scene(frames, regions)  # (B, N, K)
        logits = self.synthesize(visual, audio)  # (B, N, F, T)
        return Output(torch.sigmoid(logits), logits, mix_mag, mix_spec, visual)

    def pixel_masks(self, mix: Tensor, frames: Tensor) -> Tensor:
        """The mask each pixel (feature-grid cell) of one video would put on the mixture.

        Args:
            mix: mixture ``(B, L)``.
            frames: one video's frames ``(B, V, 3, H, W)``.

        Returns:
            Masks in [0, 1] on the warped grid, ``(B, h, w, F, T)``.
        """
        _, mix_mag = self.spectrogram(mix)  # (B, F, T)
        audio = self.encode_audio(mix_mag)  # (B, K, F, T)
        pixels = self.pixel_features(frames)  # (B, K, h, w)
        return torch.sigmoid(self.synthesize(pixels, audio))  # (B, h, w, F, T)

    def apply_masks(self, masks: Tensor, mix_spec: Tensor, length: int) -> Tensor:
        """Unwarp masks, apply them to the mixture STFT (keeping its phase) and invert.

        Shapes:
            masks ``(B, N, F, T)``, mix_spec ``(B, F_lin, T)`` -> ``(B, N, length)``
        """
        with torch.autocast(masks.device.type, enabled=False):
            return self.masked_waves(self.linear_masks(masks), mix_spec[:, None], length)

    def linear_masks(self, masks: Tensor) -> Tensor:
        """Masks unwarped to the linear frequency grid (:func:`pixelsound.spec.unwarp` as one GEMM, laid out
        frames first in memory, as :func:`pixelsound.spec.istft` reads fastest).

        Shapes:
            masks ``(..., F, T)`` -> float32 ``(..., F_lin, T)``
        """
        return torch.matmul(masks.float().transpose(-1, -2), self.unwarp_matrix.float().T).transpose(-1, -2)

    def masked_waves(self, linear: Tensor, mix_spec: Tensor, length: int) -> Tensor:
        """Apply linear masks to the mixture STFT (keeping its phase) and invert.

        Shapes:
            linear ``(..., F_lin, T)``, mix_spec complex, broadcast to it -> ``(..., length)``
        """
        a = self.cfg.audio
        return spec.istft(linear * mix_spec, a.n_fft, a.hop, length)

    def separate(self, mix: Tensor, frames: Tensor, hard: bool = False) -> Tensor:
        """Waveform of each source's sound in the mixture.

        Args:
            mix: mixture ``(B, L)``.
            frames: ``(B, N, V, 3, H, W)``.
            hard: threshold masks at 0.5 (as the original code evaluates binary masks) instead of soft masks
                (made to share each bin, :func:`pixelsound.spec.compete`, with ``cfg.model.compete``).

        Returns:
            ``(B, N, L)`` waveforms, exactly as long as ``mix``.
        """
        out = self(mix, frames)
        if hard:
            return self.apply_masks((out.masks > 0.5).to(out.masks.dtype), out.mix_spec, mix.shape[-1])
        masks = spec.compete(out.masks, self.cfg.model.compete)
        return self.apply_masks(masks, out.mix_spec, mix.shape[-1])
