#!/usr/bin/env bash
# ResNet-18 (dilated, right-sized) against the spacetime-patch transformer as the frame net, on equal terms:
# the same data, audio net, optimizer and training minutes, both trained at once with one thread each,
# then evaluated on the same 200 test 2-mixes. Needs stage 1 of run.sh (data/instruments).
#   bash recipes/instruments/encoders.sh [MINUTES]        # default 15
# Writes runs/encoders/{resnet18,spacetime}/ and prints recipes/instruments/encoders.py's table.
set -euo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} OMP_NUM_THREADS=1
cd "$(dirname "$(readlink -f "$0")")/../.."
DATA=${DATA:-data/instruments}
OUT=${OUT:-runs/encoders}
PS=${PIXELSOUND:-.venv/bin/pixelsound}
minutes=${1:-15}
common=(--set train.max_minutes="$minutes" --set train.epochs=1000 --set train.schedule=constant
        --set train.warmup_steps=200 --set train.save_every=0 --set train.val_mixes=32
        --set train.augment=false --set train.scene_prob=0
        --set data.train_index="$DATA/train.jsonl" --set data.val_index="$DATA/val.jsonl")
[[ -f $OUT/resnet18/last.pt ]] && r1=(--resume) || r1=()
[[ -f $OUT/spacetime/last.pt ]] && r2=(--resume) || r2=()
$PS train recipes/instruments/config.toml "${common[@]}" --set train.out_dir="$OUT/resnet18" \
    --set model.frame_net=resnet18 "${r1[@]}" > "$OUT.resnet18.log" 2>&1 &
$PS train recipes/instruments/config.toml "${common[@]}" --set train.out_dir="$OUT/spacetime" \
    --set model.frame_net=spacetime --set model.spacetime_dim=128 --set train.lr_frame=3e-4 "${r2[@]}" \
    > "$OUT.spacetime.log" 2>&1 &
wait
for enc in resnet18 spacetime; do
    $PS evaluate "$OUT/$enc/best" "$DATA/test.jsonl" --mixes 2 --count 200 --seed 0 --threads 2 \
        --out "$OUT/$enc/eval-test" > "$OUT.$enc.eval.log" 2>&1
done
.venv/bin/python recipes/instruments/encoders.py "$OUT" --md recipes/instruments/encoders.md
