"""Distillation benchmark: our distiller vs TextBrewer, KD vs MLM-only on real data, student speed.

    .venv/bin/python bench/distill.py [--parts speed,quality,inference] [--speed_steps 10]
        [--device cpu|cuda] [--teacher_size small|base] [--student_steps 200]

1. speed (`bench/distill_speed.py`): steps/s of one distillation step, ours against TextBrewer
   0.2.1's `GeneralDistiller` with the same teacher, student, losses, batch and sequence length
   (on a GPU also ours in bf16 with and without torch.compile, with MFU).
2. quality (needs ../shared/reference, skipped without it): a small teacher trained by our TF
   trainer on the GAOKAO corpus with Google's Chinese vocab and converted by our converter
   (cached in build/bench-cache/ by its parameters); then two students, each distilled by our
   stage with its default loss (KD at T=1 + hidden MSE) and trained by the same stage on the
   masked-LM loss alone (KD and hidden weights 0, hard weight 1) from the same init with the
   same data order, steps and schedule: 2 of the teacher's 4 layers (the stage's default
   initialisation) and a random 2x128 student; held-out masked-LM accuracy of each and its
   share of the teacher's.
3. inference: the KD students vs the teacher on CPU, sequences/s at batch 32 x 128 and p50
   latency at batch 1, as `components.distill.compare` measures them after training.

Needs TextBrewer (pip install --no-deps textbrewer==0.2.1.post1) and tensorboard, which it
imports; the quality part also needs TensorFlow (the trainer and converter).
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from distill_speed import SIZES, run_speed  # noqa: E402

from components.common.artifacts import atomic_file, sha256_file, write_manifest  # noqa: E402
from components.common.logs import setup_logging  # noqa: E402
from components.distill.arguments import DistillArguments  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "..", "shared", "reference")
CORPUS = os.path.join(REFERENCE, "gaokao_corpus.txt")
VOCAB = os.path.join(REFERENCE, "chinese_bert_vocab.txt")
CACHE = os.path.join(ROOT, "build", "bench-cache")
def teacher_parameters(args):
    """What the cached teacher depends on: its key in build/bench-cache/."""
    from components.bert.vocab import count_vocab

    layers, hidden, heads, intermediate = SIZES["small"][0]
    return {"corpus_sha256": sha256_file(CORPUS), "vocab_sha256": sha256_file(VOCAB),
            "max_seq_length": 64, "max_predictions_per_seq": 10, "dupe_factor": 2,
            "heldout_fraction": 0.05, "segmenter": "rjieba", "do_whole_word_mask": False,
            "bert_config": {"vocab_size": count_vocab(VOCAB), "hidden_size": hidden,
                            "num_hidden_layers": layers, "num_attention_heads": heads,
                            "intermediate_size": intermediate, "hidden_act": "gelu",
                            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
                            "max_position_embeddings": 512, "type_vocab_size": 2,
                            "initializer_range": 0.02},
            "train_batch_size": args.teacher_batch_size, "num_train_steps": args.teacher_steps,
            "num_warmup_steps": args.teacher_steps // 10,
            "learning_rate": args.teacher_learning_rate, "random_seed": 12345}


def cached_teacher(args):
    """build/bench-cache/distill-teacher-KEY/ with data/ (pretraining data of the corpus) and
    teacher/ (the trained teacher, converted); made on the first run (minutes to hours). Until
    it is done its parts live in KEY.partial/, so that a stopped run resumes the teacher's
    training from its last save (every 250 steps, and on SIGTERM) instead of step 0."""
    params = teacher_parameters(args)
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    directory = os.path.join(CACHE, f"distill-teacher-{key}")
    if os.path.isfile(os.path.join(directory, "manifest.json")):
        print(f"  teacher and data from the cache: {os.path.relpath(directory, ROOT)}")
        return directory
    from components.pretraining_data.arguments import PretrainingDataArguments
    from components.pretraining_data.create import create_pretraining_data

    work = directory + ".partial"
    print(f"  training the teacher in {os.path.relpath(work, ROOT)} (first run only; a "
          "stopped run resumes there)")
    started = time.perf_counter()
    data, google, state = (os.path.join(work, n) for n in ("data", "google", "state"))
    os.makedirs(work, exist_ok=True)
    if not os.path.isfile(os.path.join(data, "manifest.json")):
        create_pretraining_data(PretrainingDataArguments(
                [CORPUS], vocab_file=VOCAB, output_dir=data,
                max_seq_length=params["max_seq_length"],
                max_predictions_per_seq=params["max_predictions_per_seq"],
                dupe_factor=params["dupe_factor"], heldout_fraction=params["heldout_fraction"],
                segmenter=params["segmenter"], do_whole_word_mask=params["do_whole_word_mask"]))
    config_file = os.path.join(work, "bert_config.json")
    with atomic_file(config_file) as f:
        json.dump(params["bert_config"], f)
    # The users' CLIs in their own processes: TensorFlow stays out of this one.
    train_flags = {"input_dir": data, "output_dir": google, "checkpoint_dir": state,
                   "bert_config_file": config_file, "vocab_file": VOCAB,
                   "save_checkpoints_steps": min(250, params["num_train_steps"]),
                   "log_every_n_steps": 50,
                   **{k: params[k] for k in ("max_seq_length", "max_predictions_per_seq",
                                             "train_batch_size", "num_train_steps",
                                             "num_warmup_steps", "learning_rate",
                                             "random_seed")}}
    run_module("components.train", train_flags)
    run_module("components.convert", {"tf_checkpoint_path": google,
                                      "output_dir": os.path.join(work, "teacher")})
    shutil.rmtree(state)
    write_manifest(work, {"kind": "bench_distill_teacher", "parameters": params,
                          "last_run_seconds": round(time.perf_counter() - started, 1)})
    os.replace(work, directory)
    return directory


def module_command(module, flags):
    """`python -m module --name value …`, with this interpreter."""
    command = [sys.executable, "-m", module]
    for name, value in flags.items():
        command += [f"--{name}", str(value)]
    return command


def run_module(module, flags):
    code = subprocess.run(module_command(module, flags), cwd=ROOT).returncode
    if code:
        sys.exit(f"bench/distill.py: {module} stopped (exit code {code}); what it finished "
                 f"is kept in {os.path.relpath(CACHE, ROOT)}/, rerun the bench to go on")


# The two students of the quality part: flags of their shape, and their peak learning rate.
QUALITY_STUDENTS = {
    "from teacher layers": ({"student_num_hidden_layers": 2}, 1e-4),
    "random 2x128": (dict(zip(("student_num_hidden_layers", "student_hidden_size",
                               "student_num_attention_heads", "student_intermediate_size"),
                              SIZES["small"][1], strict=True)), 1e-3),
}
MLM_ONLY = {"kd_weight": 0.0, "hidden_weight": 0.0, "hard_weight": 1.0}


def train_student(args, cache, output_dir, shape, learning_rate, **loss_weights):
    """Our stage on the cached teacher and data; returns its held-out comparison
    (metrics.json)."""
    from components.distill.loop import distill

    distill(DistillArguments(
            teacher_dir=os.path.join(cache, "teacher"), input_dir=os.path.join(cache, "data"),
            output_dir=output_dir, num_train_steps=args.student_steps,
            num_warmup_steps=args.student_steps // 10, train_batch_size=args.student_batch_size,
            learning_rate=learning_rate, save_checkpoints_steps=args.student_steps,
            log_every_n_steps=args.student_steps, random_seed=1,
            max_eval_examples=args.max_eval_examples, **shape, **loss_weights))
    with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def run_quality(args):
    """{student setup: {"KD": comparison with the teacher, "MLM-only": ...}}, or None without
    the reference data."""
    print("\n== 2. quality: KD vs MLM-only student on the GAOKAO corpus")
    if not (os.path.isfile(CORPUS) and os.path.isfile(VOCAB)):
        print(f"  skipped: {os.path.normpath(REFERENCE)} has no gaokao_corpus.txt / "
              "chinese_bert_vocab.txt (see ../shared/reference/SOURCES.md)")
        return None
    cache = cached_teacher(args)
    with open(os.path.join(cache, "manifest.json"), encoding="utf-8") as f:
        teacher = json.load(f)["parameters"]
    with open(os.path.join(cache, "data", "manifest.json"), encoding="utf-8") as f:
        data = json.load(f)
    print(f"  teacher {teacher['bert_config']['num_hidden_layers']}x"
          f"{teacher['bert_config']['hidden_size']} from random init, "
          f"{teacher['num_train_steps']} steps at batch {teacher['train_batch_size']}, lr "
          f"{teacher['learning_rate']:g} by components.train; data: {data['train_instances']} "
          f"train / {data['heldout_instances']} held-out records of {data['max_seq_length']} "
          f"tokens, {data['max_predictions_per_seq']} predictions, "
          f"{'whole-word' if data['do_whole_word_mask'] else 'per-token'} masking")
    print(f"  each pair: the same init, data order, {args.student_steps} steps at batch "
          f"{args.student_batch_size} and schedule; KD = the stage's default loss (KL at "
          f"T={DistillArguments.temperature:g} + hidden MSE), MLM-only = its cross-entropy on "
          "the true tokens alone")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-distill-") as tmp:
        for setup, (shape, learning_rate) in QUALITY_STUDENTS.items():
            for loss, weights in (("KD", {}), ("MLM-only", MLM_ONLY)):
                started = time.perf_counter()
                result = train_student(args, cache, os.path.join(tmp, f"{len(results)}{loss}"),
                                       shape, learning_rate, **weights)
                result["seconds"] = time.perf_counter() - started
                results.setdefault(setup, {})[loss] = result
    print_quality(results)
    return results


def print_quality(results):
    first = next(iter(results.values()))["KD"]
    print(f"  held-out: {first['examples']} records, {first['masked_positions']} masked "
          f"positions; teacher: MLM accuracy {first['teacher']['masked_lm_accuracy']:.4f}, "
          f"loss {first['teacher']['masked_lm_loss']:.3f}")
    print(f"  {'student':<22} {'lr':>6} {'loss':<9} {'MLM accuracy':>12} {'loss':>7} "
          f"{'top-1 = teacher':>15} {'share of teacher':>16} {'train s':>8}")
    for setup, pair in results.items():
        learning_rate = QUALITY_STUDENTS[setup][1]
        for loss, result in pair.items():
            share = result["student_accuracy_share"]
            print(f"  {setup:<22} {learning_rate:6g} {loss:<9} "
                  f"{result['student']['masked_lm_accuracy']:12.4f} "
                  f"{result['student']['masked_lm_loss']:7.3f} "
                  f"{result['student_top1_agreement']:15.4f} "
                  f"{'n/a' if share is None else f'{share:.1%}':>16} {result['seconds']:8.0f}")
    for setup, pair in results.items():
        kd, mlm = (pair[k]["student"]["masked_lm_accuracy"] for k in ("KD", "MLM-only"))
        # Two standard errors of the difference of two accuracies on this many positions, as
        # if independent (the students are scored on the same ones: a bound from above).
        noise = 2 * math.sqrt((kd * (1 - kd) + mlm * (1 - mlm)) /
                              pair["KD"]["masked_positions"])
        verdict = "met" if kd - mlm > noise else "NOT met" if kd - mlm < -noise else \
            "a tie within noise"
        print(f"  goal, {setup}: KD student beats MLM-only at equal steps: "
              f"{100 * (kd - mlm):+.2f} accuracy points, noise ±{100 * noise:.2f} ({verdict})")


def run_inference(quality):
    print("\n== 3. inference on CPU: the KD students vs the teacher (components.distill.compare)")
    if quality is None:
        print("  skipped: needs the quality part's models")
        return
    first = next(iter(quality.values()))["KD"]
    settings = first["speed_settings"]
    print(f"  the whole fill-mask forward pass (logits at every position), float32, "
          f"{settings['cpu_threads']} threads, {settings['repeats']} repeats")
    for setup, pair in quality.items():
        kd = pair["KD"]
        cpu = kd["speed"]["cpu"]
        for name in ("teacher", "student"):
            measured = cpu["measured"][name]
            print(f"  {setup + ' run,':<24} {name:<8} {kd[name]['num_parameters'] / 1e6:5.1f}M "
                  f"parameters: {measured['sequences_per_second']:7.1f} sequences/s at batch "
                  f"{settings['batch_size']} x {settings['seq_length']}, "
                  f"{measured['latency_ms_p50']:7.2f} ms p50 at batch 1")
        print(f"  {setup}: student speed-up {cpu['throughput']:.2f}x throughput, "
              f"{cpu['latency']:.2f}x latency")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="speed,quality,inference",
                   help="comma list of: speed, quality, inference")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where the speed part runs (cuda: also bf16 with/without compile)")
    p.add_argument("--teacher_size", default="small", choices=sorted(SIZES),
                   help="speed part: small = teacher 4x256 -> student 2x128; base = "
                   "BERT-base 12x768 -> 4x768 from teacher layers (for a GPU)")
    p.add_argument("--speed_steps", type=int, default=10, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--predictions", type=int, default=20)
    p.add_argument("--vocab_size", type=int, default=21128, help="Google's Chinese vocab")
    p.add_argument("--teacher_steps", type=int, default=3000, help="quality part's teacher")
    p.add_argument("--teacher_batch_size", type=int, default=16)
    p.add_argument("--teacher_learning_rate", type=float, default=5e-4)
    p.add_argument("--student_steps", type=int, default=300, help="each student's steps")
    p.add_argument("--student_batch_size", type=int, default=32)
    p.add_argument("--max_eval_examples", type=int, default=None,
                   help="held-out records scored per student (default: all)")
    args = p.parse_args(argv)
    parts = set(args.parts.split(","))
    setup_logging(os.environ.get("EDU_MLM_LOG_LEVEL", "WARNING"))
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no GPU visible")
    started = time.perf_counter()
    if "speed" in parts:
        run_speed(args, torch.device(args.device, 0) if args.device == "cuda"
                  else torch.device("cpu"))
    quality = run_quality(args) if parts & {"quality", "inference"} else None
    if "inference" in parts:
        run_inference(quality)
    print(f"\n(bench/distill.py took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
