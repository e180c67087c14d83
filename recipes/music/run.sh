#!/usr/bin/env bash
# The Sound-of-Pixels paper setup on the MUSIC dataset (videos downloaded by you; nothing is fetched here).
#   MUSIC_DIR=/path/to/MUSIC/solo bash recipes/music/run.sh        # all stages
#   bash recipes/music/run.sh 2 --set train.batch_size=40          # one stage, extra args to it
# 1 index     probe every video under MUSIC_DIR (category = folder name), reject broken ones, split by video
# 2 train     the paper's preset (GPU; scale out with torchrun: NPROC=8 bash recipes/music/run.sh 2)
# 3 evaluate  2- and 3-mixes on the test split against mixture and oracle masks
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # idle OpenMP threads sleep instead of spinning
cd "$(dirname "$(readlink -f "$0")")/../.."
DATA=${DATA:-data/music}
RUN=${RUN:-runs/music}
PS=${PIXELSOUND:-.venv/bin/pixelsound}
NPROC=${NPROC:-1}
stage=${1:-all}
shift || true

if [[ $stage == all || $stage == 1 ]]; then
    : "${MUSIC_DIR:?set MUSIC_DIR to the folder of MUSIC videos (CATEGORY/VIDEO_ID.mp4)}"
    $PS index "$MUSIC_DIR" -o "$DATA/index.jsonl" --category-from folder --min-duration 6 \
        --split 0.8 0.1 0.1 "$@"
fi
if [[ $stage == all || $stage == 2 ]]; then
    resume=()
    [[ -f $RUN/last.pt ]] && resume=(--resume)
    sets=(--set train.out_dir="$RUN" --set data.train_index="$DATA/index.train.jsonl"
          --set data.val_index="$DATA/index.val.jsonl")
    if [[ $NPROC -gt 1 ]]; then
        .venv/bin/torchrun --standalone --nproc_per_node "$NPROC" -m pixelsound.cli train \
            recipes/music/config.toml "${sets[@]}" "${resume[@]}" "$@"
    else
        $PS train recipes/music/config.toml "${sets[@]}" "${resume[@]}" "$@"
    fi
fi
if [[ $stage == all || $stage == 3 ]]; then
    $PS evaluate "$RUN/best" "$DATA/index.test.jsonl" --mixes 2 3 --count 500 --seed 0 --out "$RUN/eval" "$@"
fi
