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

Modules, one concern each (reading down from ``cli`` explains the system):

    cli         `pixelsound VERB ...`, a thin argparse layer over the modules below
    errors      the errors a user can cause (UserError) and the exit codes the command line gives them
    io          decode and encode media with PyAV (the only module that imports av)
    index       scan folders of videos into a JSON-lines index, split by video; read the Sound-of-Pixels CSV
    dataset     torch Dataset of solo clip windows from an index, with a decoded-clip cache
    builder     `data instruments`: soundfont and recorded audio (instruments, melody) drawn in several
                styles (pictures, backgrounds), moving on each note; solos, duets with stems and masks,
                silent clips; the training world, the far split and its two halves
    instruments instrument classes, sound sources (soundfonts or recordings, with a train or far role),
                expression; melodies, accompaniment and drum patterns in ``melody``; recorded instruments
                played note by note in ``sampler``
    pictures    picture libraries with roles (train, held out, far) and frames that move with the music;
                procedural and photographic backgrounds in ``backgrounds``
    rooms       where a sound was recorded: room impulse responses, microphone colouring, noise
    config      frozen dataclass configs, TOML recipes, typed --set overrides
    spec        STFT / ISTFT and the log-frequency warp (pure functions)
    frames      frame nets: dilated ResNet-18 (right-sizable) and a spacetime-patch transformer
    unet        the audio U-Net
    model       SoundOfPixels: encode audio -> encode frames -> synthesize masks -> apply masks
    losses      mask targets (binary, dominant, ratio) and weighted losses
    mixing      mixtures formed in the training step: groups of N clips, gains, collate
    views       what the frame net sees in training: appearance and world views, scenes with silent regions
    train       mix-and-separate training loop (DDP via torchrun, atomic checkpoints, exact resume)
    precision   whether to compute in bfloat16 (``auto``: only where the device does it natively)
    adapt       fine-tune a release on a folder of the user's videos (held-back split, before/after report)
    distrib     process group set-up from torchrun's environment (no-op with one process)
    checkpoint  atomic writes, weights_only training state, releases (safetensors + JSON config)
    metrics     BSS-eval SDR / SIR / SAR (agrees with mir_eval) and SI-SDR
    evaluate    fixed seeded mixtures: model vs mixture vs ideal masks, tables and pictures
    plots       spectrograms, masks, grids and heatmap overlays as pictures (Pillow only)
    separate    separate videos' sounds from a mixture, any length (overlap-add)
    inference   inference-only model rewrites: BatchNorm folded, last conv merged, frame features reused
    demo        the README's main job on the bundled model and samples
    pixels      the sound of every pixel (one einsum for all cells), chunked over time
    objects     sounding objects (cells grouped by their sound), heatmaps, localization metrics
    page        the self-contained click-to-listen page
    motion      motion maps and curves from frames, event peaks
    events      moving objects' tracks and their events (impacts, note onsets), for score and foley
    impacts     contacts of tracked objects at sub-frame times, strength, material from the look
    sync        lag sweep between visual events and audio onsets: offset, confidence, soft F1
    onsets      audio onset envelopes, onset detection and one-to-one matching
    score       sounding map, correspondence, sync and offset of candidate soundtracks
    modal       procedural impact sounds by modal synthesis
    mixdown     pan, distance gain, room reverb; loudness (ITU-R BS.1770, pyloudnorm) in ``loudness``
    regions     what a moving region looks like to the model: analysis frames, crops, visual vectors
    bank        sounds learned from separated training videos, per visual prototype
    foley       a layered soundtrack for a silent video, with stems and an editable cue sheet (the verb)
    spotting    Foley's first stage: a silent video -> its cue sheet (objects, events, sounds, room)
    soundtrack  a cue sheet rendered into a layered stereo soundtrack, written as video, stems, cue sheet
    cues        the Foley cue sheet's schema and validation, safe file names
    ambience    procedural, seamless ambience beds and a bed chosen from the scene
    voice       spoken lines by an offline text-to-speech engine (espeak-ng)
    bounce      bouncing-object clips with exact impact times (Foley evaluation)
    varied      varied test clips (balls and boxes under any physics; instruments that move in many ways)
"""

__version__ = "0.1.0"
