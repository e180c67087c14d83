"""pixelsound: learn what things sound like from unlabeled video.

Shape glossary (used by every docstring and shape comment in the package):

    B  batch                     N  sources mixed together (mix-and-separate)
    K  components / feature channels shared by the audio and frame nets
    F  frequency bins after the log-frequency warp
    F_lin  linear STFT bins (n_fft // 2 + 1), before the warp
    T  STFT frames               L  audio samples
    V  video frames              H, W  frame height and width (pixels)
    h, w  feature-grid height and width (frame net output)
    C  audio channels: a waveform is (C, L) or (L,); colour channels are always written 3 (RGB)
    J  windows (chunks) of a long input processed together (see ``windows``)
    R  regions: cell masks, boxes or groups of cells of one grid or frame
    Y  categories (class prototypes)

Audio is float32 in [-1, 1]; frames are uint8 RGB laid out (V, 3, H, W) until normalized.

Modules, one concern each, in the order of the import graph: media -> data -> model -> training and
evaluation -> applications (separate, pixels, foley, score) -> the command line. Each imports only modules
above it, but for the few exceptions named at them; reading down explains the system.

Media

    errors      the errors a user can cause (UserError) and the exit codes the command line gives them
    atomic      the one atomic-write helper: a file appears whole or not at all (temp file, fsync, rename)
    io          decode and encode media with PyAV (the only module that imports av)
    clip        the one clip reader: frames at given times and audio at a rate, lazily, from a file or tensors
    windows     the one chunking core: window plans, overlap-add weights, frame times per window
    spec        STFT / ISTFT and the log-frequency warp (pure functions)
    plots       spectrograms, masks, grids and heatmap overlays as pictures (Pillow only)
    motion      motion maps and curves from frames, event peaks
    onsets      audio onset envelopes, onset detection and one-to-one matching
    modal       procedural impact sounds by modal synthesis
    mixdown     pan, distance gain, room reverb; loudness (ITU-R BS.1770, pyloudnorm) in ``loudness``

Data

    config      frozen dataclass configs, TOML recipes, typed --set overrides
    index       scan folders of videos into a JSON-lines index, split by video; read the Sound-of-Pixels CSV
    rooms       where a sound was recorded: room impulse responses, microphone colouring, noise
    timbre      what an instrument sounds like, varied: speed (pitch and body) and spectral envelope
    dataset     torch Dataset of solo clip windows from an index, with a decoded-clip cache
    instruments instrument classes, sound sources (soundfonts, recordings or patches; train or far role),
                expression; melodies, accompaniment and drum patterns in ``melody``
    pictures    picture libraries with roles (train, held out, far); procedural and photographic
                backgrounds in ``backgrounds``
    staging     frames in which the pictures move with the music (placement, pulses on note onsets)
    sampler     recorded instruments (the tonejs-instrument libraries) played note by note: zones of
                recordings, looped or not, played with expression; GUS patches (freepats) in ``patches``
    bounce      bouncing-object clips with exact impact times (Foley evaluation)
    varied      varied test clips (balls and boxes under any physics; instruments that move in many ways)
    builder     `data instruments`: soundfont, patch and recorded audio drawn in several styles, moving on
                each note; solos, duets with stems and masks, silent clips; the training world, the far split
                (its files are written by the one atomic-write helper, ``atomic``)

Model

    frames      frame nets: dilated ResNet-18 (right-sizable) and a spacetime-patch transformer
    unet        the audio U-Net
    model       SoundOfPixels: encode audio -> encode frames -> synthesize masks -> apply masks
    inference   inference-only model rewrites: BatchNorm folded, last conv merged, frame features reused
    precision   whether to compute in bfloat16 (``auto``: only where the device does it natively)
    checkpoint  weights_only training state, releases (safetensors + JSON config), the one model loader
                (a release path, a loaded model, None: the bundled one; "none" where a verb runs without)
                and release prototypes

Training and evaluation

    metrics     BSS-eval SDR / SIR / SAR (agrees with mir_eval) and SI-SDR
    mixing      mixtures formed in the training step: groups of N clips, gains, collate
    views       what the frame net sees in training: appearance and world views, scenes with silent regions
    distrib     process group set-up from torchrun's environment (no-op with one process)
    losses      mask targets (binary, dominant, ratio) and weighted losses
    resume      the training state in ``last.pt`` (progress, every random state) and exact resume
    runlog      what a run reports: the progress bar, ``log.csv``, TensorBoard
    optim       the optimizer (two parameter groups) and its learning-rate schedule
    stopping    SIGTERM and Ctrl-C as a request to stop after the step (and save)
    validation  fixed, seeded mixtures of held-out clips and their separation SDR
    train       mix-and-separate training loop (DDP via torchrun, atomic checkpoints, exact resume)
    adapt       fine-tune a release on a folder of the user's videos (held-back split, before/after report;
                category prototypes from ``objects``)
    evaluate    fixed seeded mixtures: model vs mixture vs ideal masks, tables and pictures

Applications: separation

    separate    separate videos' sounds from a mixture, any length (overlap-add)
    demo        the README's main job on the bundled model and samples

Applications: the sound of every pixel

    cells       the per-cell engine: masks of every grid cell or region and their sounds
    objects     sounding objects: cells grouped by their sound and place, their heatmaps and categories
    pixels      the sound of every pixel (one einsum for all cells), chunked over time (the verb)
    localization  how well heatmaps and objects find the instruments of a duet: cIoU, AUC, SDR
    page        the self-contained click-to-listen page
    pixel_outputs  what `pixels` writes: object wavs, heatmaps, overlay video, pixels.json, the page

Applications: what moves and when (shared by Foley and scoring)

    impacts     contacts of tracked objects at sub-frame times, strength, material from the look
    events      moving objects' tracks and their events (impacts, note onsets), for score and foley
    sync        offsets between visual events and audio onsets (lag sweeps of events or of curves),
                confidence, soft F1

Applications: Foley

    regions     what a moving region looks like to the model: analysis frames, crops, visual vectors
    soundbank   a sound bank: prototypes and their snippets, its folder format, lookup
    bank        builds a sound bank from separated training videos, per visual prototype (the verb)
    ambience    procedural, seamless ambience beds and a bed chosen from the scene
    voice       spoken lines by an offline text-to-speech engine (espeak-ng)
    cues        the Foley cue sheet's schema and validation, safe file names
    spotting    Foley's first stage: a silent video -> its cue sheet (objects, events, sounds, room)
    soundtrack  a cue sheet rendered into a layered stereo soundtrack, written as video, stems, cue sheet
    objectsound each object's sound from its cue (modal, bank, file), rendered one object at a time
    foley       a layered soundtrack for a silent video, with stems and an editable cue sheet (the verb)

Applications: scoring

    sounding    where a clip sounds: the sounding map and its sounding regions (parts that move together)
    attribution the model's evidence for scoring: which release, per-pixel activity, each soundtrack's share
    score       correspondence, sync and offset of candidate soundtracks (the Python API)
    scorecard   `pixelsound score`: the command line and its report (table, JSON, CSV)

Command line

    cli         `pixelsound VERB ...`, a thin argparse layer over the modules above
"""

__version__ = "0.1.0"
