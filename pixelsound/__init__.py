"""pixelsound: learn what things sound like from unlabeled video.

Shape glossary (used by every docstring and shape comment in the package):

    B  batch                     N  sources mixed together (mix-and-separate)
    K  components / feature channels shared by the audio and frame nets
    F  frequency bins (after the log-frequency warp unless said otherwise)
    T  STFT frames               L  audio samples
    V  video frames              H, W  frame height and width (pixels)
    h, w  feature-grid height and width (frame net output)
    C  audio channels

Audio is float32 in [-1, 1]; frames are uint8 RGB laid out (V, 3, H, W) until normalized.

Modules, one concern each:

    io          decode and encode media with PyAV (the only module that imports av)
    index       scan folders of videos into a JSON-lines index; read the original Sound-of-Pixels CSV
    dataset     torch Dataset of solo clip windows from an index (mixing happens in the training step)
    config      frozen dataclass configs, TOML recipes, typed --set overrides
    spec        STFT / ISTFT and the log-frequency warp (pure functions)
    model       frame net, audio U-Net, synthesizer; SoundOfPixels reads as named steps
    losses      mask targets and weighted losses
    train       mix-and-separate training loop (DDP via torchrun, atomic checkpoints, exact resume)
    metrics     BSS-eval SDR / SIR / SAR (agrees with mir_eval) and SI-SDR
    evaluate    fixed seeded mixtures, model vs mixture vs oracle masks, tables and pictures
    builder     the instruments data builder (real soundfont audio, several drawing styles)
    cli         `pixelsound VERB ...`, a thin argparse layer over the modules above
"""

__version__ = "0.1.0"
