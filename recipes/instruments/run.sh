#!/usr/bin/env bash
# Reproduce the bundled model from nothing but installed packages, in numbered stages:
#   bash recipes/instruments/run.sh          # all stages
#   bash recipes/instruments/run.sh 2        # only stage 2 (train); extra args go to that stage
# 1 data      the training world (FluidR3, recorded samples and drum kits, freepats GUS patches and OPL3
#             audio: Debian packages fluid-soundfont-gm freepats opl3-soundfont hydrogen-drumkits and npm
#             tonejs-instrument-*-mp3, all installed by ./dev setup; 28 picture libraries; OpenMoji held
#             out) -> data/instruments
#             and the far split (csound's GM bank in simulated rooms, 4 picture libraries never trained on) -> data/far
# 2 train     the recipe (the CPU preset, twice as wide) from the v9 release: 60 minutes with the frame net
#             frozen, then at most 45 with everything (resumes if killed) -> runs/instruments-frozen, runs/instruments
# 3 evaluate  2- and 3-mixes on the far split first, then the test split and the held-out style -> runs/instruments/eval-*
# 4 release   copy the best weights and two test clips into pixelsound/assets (the README's main job)
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # idle OpenMP threads sleep instead of spinning
cd "$(dirname "$(readlink -f "$0")")/../.."
DATA=${DATA:-data/instruments}
FAR=${FAR:-data/far}
RUN=${RUN:-runs/instruments}
PS=${PIXELSOUND:-.venv/bin/pixelsound}
stage=${1:-all}
shift || true

if [[ $stage == all || $stage == 1 ]]; then
    $PS data instruments --out "$DATA" --clips 1000 --seed 0 "$@"
    $PS data instruments --world far --out "$FAR" --clips 400 --seed 100 --workers 1 \
        --duet-fraction 0.2 --silent-fraction 0.15 "$@"
fi
if [[ $stage == all || $stage == 2 ]]; then
    # from scratch the richer world stalled at the mixture's SDR for 2500 steps (runs/instruments-v5-scratch),
    # so each version starts from the one before: v5 from v4 (FluidR3 and emoji only), v6 from v5 (the
    # recorded source added), v7 from v6 (28 picture libraries, lighting), v8 from v7 (freepats and the
    # Hydrogen drum kits added; not bundled), v9 from v7 again, widened (bundled before v11: v7 grown to
    # unet_channels 32, frame_width 48 by `--init`; recipes/instruments/v9), v11 from v9 (harder rooms,
    # more accompaniment, half the learning rate; bundled before v12), v12 from v9 in two runs (bundled
    # before v13): the audio side first with v9's frame net frozen ($RUN-frozen, FROZEN below), then
    # everything with MixStyle; v13 (the bundled model) as v12 with timbre variation in the second run
    # (config.toml's data.timbre). The older releases are in git history
    # (git show 7d335e0:recipes/instruments/v4/config.json, git show 3f1650a:recipes/instruments/v6/config.json,
    # git show 3018e53:recipes/instruments/v7/config.json, v11: git show 2fc494c:pixelsound/assets/model/...,
    # v12: git show 47c3d43:pixelsound/assets/model/...).
    # No release in this chain saw any of the far split's sources or libraries.
    data=(--set data.train_index="$DATA/train.jsonl" --set data.val_index="$DATA/val.jsonl")
    FROZEN=(--set train.freeze_frame=true --set train.mixstyle=0 --set data.timbre=0
        --set train.lr_frame=0.0005 --set train.lr_rest=0.0005 --set train.epochs=44
        --set train.warmup_steps=250 --set train.max_minutes=75)
    resume=(--resume)
    if [[ ! -f $RUN/last.pt ]]; then
        first=(--init "${INIT:-recipes/instruments/v9}")
        [[ -f $RUN-frozen/last.pt ]] && first=(--resume)
        $PS train recipes/instruments/config.toml --set train.out_dir="$RUN-frozen" "${data[@]}" \
            "${FROZEN[@]}" "${first[@]}" "$@"
        resume=(--init "$RUN-frozen/best")
    fi
    $PS train recipes/instruments/config.toml --set train.out_dir="$RUN" "${data[@]}" "${resume[@]}" "$@"
fi
if [[ $stage == all || $stage == 3 ]]; then
    $PS evaluate "$RUN/best" "$FAR/far.jsonl" --mixes 2 3 --count 200 --seed 0 --out "$RUN/eval-far" "$@"
    for split in test test_style; do
        $PS evaluate "$RUN/best" "$DATA/$split.jsonl" --mixes 2 3 --count 200 --seed 0 --out "$RUN/eval-$split" "$@"
    done
fi
if [[ $stage == all || $stage == 4 ]]; then
    .venv/bin/python recipes/instruments/release.py --run "$RUN" --data "$DATA"
fi
