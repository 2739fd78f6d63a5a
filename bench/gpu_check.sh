#!/usr/bin/env bash
# The distill stage on a GPU, this checkout against a baseline copy of components/ (issue 25,
# item 5): BERT-base teacher -> 4-layer student, batch 128 x 128, bf16, torch.compile off and on,
# 300 steps each, baseline then this code (four runs, about 4 minutes on an H200).
#
#   DATA=dir VOCAB=vocab.txt BASELINE=dir [WHEELS=dir] [OUT=dir] [PYTHON=python3] \
#       bash bench/gpu_check.sh
#
# DATA: a pretraining-data directory made with VOCAB; BASELINE: a directory holding the
# baseline's components/ (git archive COMMIT components | tar -x -C BASELINE); WHEELS: wheels
# the machine lacks (google-crc32c for the records' CRCs), unpacked onto PYTHONPATH, no pip
# needed. Writes OUT/distill_gpu.json (bench/distill_gpu.py's figures and the new/baseline
# ratios, rewritten after each setting) and OUT/distill_gpu.log.
set -euo pipefail
: "${DATA:?set DATA to a pretraining-data directory made with VOCAB}"
: "${VOCAB:?set VOCAB to the vocab.txt the data was made with}"
: "${BASELINE:?set BASELINE to a directory holding the components/ of the baseline}"
OUT=${OUT:-build/gpu-check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export EDU_MLM_NO_PROGRESS=1
if [ -n "${WHEELS:-}" ]; then
    unpacked=$(mktemp -d)
    for wheel in "$WHEELS"/*.whl; do "$PYTHON" -m zipfile -e "$wheel" "$unpacked"; done
    export PYTHONPATH="$unpacked${PYTHONPATH:+:$PYTHONPATH}"
fi
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader || true
timeout 330 "$PYTHON" bench/distill_gpu.py --input_dir "$DATA" --vocab_file "$VOCAB" \
    --baseline_code "$BASELINE" --train_batch_size 128 --torch_compile both --steps 300 \
    --log_every 100 --skip_eval --output "$OUT/distill_gpu.json" 2>&1 | tee "$OUT/distill_gpu.log"
