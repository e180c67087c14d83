"""Tiny configs shared by the tests: K=4, two U-Net levels, 32x32 frames, half a second of 8 kHz audio."""

from pixelsound.config import AudioConfig, Config, FramesConfig, ModelConfig


def tiny_config(length: int = 4095, log_bins: int = 64, **model) -> Config:
    """A Config small enough for a test; ``model`` keys override the tiny model section."""
    base = dict(k=4, frame_layers=2, frame_width=8, unet_depth=2, unet_channels=8)
    base.update(model)
    return Config(
        audio=AudioConfig(sample_rate=8000, length=length, n_fft=254, hop=64, log_bins=log_bins),
        frames=FramesConfig(num_frames=2, size=32),
        model=ModelConfig(**base),
    )
