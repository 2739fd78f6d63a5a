"""Downstream benchmark: the base, the adapted model and its student fine-tuned on real labelled
education text in a low-resource setting; the DAPT gain, the student's share, its speed.

    .venv/bin/python bench/downstream.py [--base_model_dir B --adapted_model_dir A
        --student_model_dir S] [--data data/gaokao_subjects.jsonl] [--per_class 32,256]
        [--seeds 1,2,3] [--eval_per_class 30] [--dapt_corpus CORPUS] [--output_dir DIR]
    .venv/bin/python bench/downstream.py --dapt_corpus CORPUS --write_dapt_corpus_without_eval OUT

Task: subject tagging (8 subjects) of GAOKAO-Bench's questions (data/gaokao_subjects.jsonl,
Apache-2.0; data/gaokao_subjects.SOURCES.md). A fixed, balanced evaluation set of
--eval_per_class questions per subject; for each size k of --per_class and each seed s, a
training sample of k questions per subject drawn by s (all of a subject that has fewer), on
which `python -m components.downstream` (its `main`, in this process) fine-tunes the three
models with one recipe and fine-tuning seed s. Then the encoder alone (`BertModel`, no MLM
head) of the teacher (the adapted model) and the student is timed at batch 32 x 128, in turns,
bf16 on a GPU, fp32 on a CPU.

Reported (stdout, OUTPUT_DIR/results.json and results.md; the JSON is rewritten after each
size): per size and model accuracy and macro-F1 mean ± std over the seeds, adapted − base with a
95 % interval, student / teacher accuracy with its interval, the throughput ratio, and a line
per goal (the adapted model beats a general-domain base by more than the seed noise; the
student keeps >= 95 % of the teacher's accuracy at >= 2.5x its encoder throughput): met,
missed, or too small to show (the interval includes the goal, or stand-ins made the figures).

Models: without the three --*_model_dir, the newest `make run`'s (runs/local/*/run.json): its
base (the demo pipeline's randomly initialised 2 x 64 BERT), the adapted model (trained on
data/sample/corpus.txt with the 1,797-token demo vocab) and the distilled student: stand-ins,
said so in the output (skipped, exit 0, when there is no make run). --stand_in ROLE=WHAT marks
given models as stand-ins; --describe ROLE=WHAT says what a model is without that.
--dapt_corpus names the unlabelled corpus the adapted model was trained on: the bench reports
how many evaluation questions it holds; --write_dapt_corpus_without_eval writes it without those
passages (and exits), to train on.
"""

import argparse
import glob
import json
import os
import shlex
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import downstream_data as data  # noqa: E402
import downstream_report as report  # noqa: E402

from components.common.artifacts import sha256_file, write_json_atomic, write_text_atomic  # noqa: E402,I001

DATA = os.path.join(ROOT, "data", "gaokao_subjects.jsonl")
LEARNING_RATE = 3e-5
# The make run's 2 x 64 models predict one class for every question after a few hundred steps
# at BERT's rates (measured: accuracy 1/8 at 3e-5); at 3e-4 they learn a little, stably.
STAND_IN_LEARNING_RATE = 3e-4
STAND_IN_LEARNING_RATE_WHY = ("3e-4 for the make run's 2 x 64 stand-ins: at BERT's 3e-5 they "
                              "predict one class for every question")
DATA_DESCRIPTION = ("GAOKAO-Bench (OpenLMLab, Apache-2.0) questions labelled by subject, "
                    "data/gaokao_subjects.jsonl (see data/gaokao_subjects.SOURCES.md)")


def make_run_models():
    """{role: (dir, stand-in description)} of the newest make run, or None."""
    runs = sorted(glob.glob(os.path.join(ROOT, "runs", "local", "*", "run.json")),
                  key=os.path.getmtime, reverse=True)
    for path in runs:
        with open(path, encoding="utf-8") as f:
            artifacts = {k: v["uri"] for k, v in json.load(f).get("artifacts", {}).items()}
        dirs = [artifacts.get(k) for k in ("base_hf_model", "hf_model", "student")]
        if all(d and os.path.isdir(d) for d in dirs):
            run = os.path.relpath(os.path.dirname(path), ROOT)
            base_init = _read_json(os.path.join(artifacts.get("base_model", ""),
                                                "manifest.json")).get("initialization")
            base = ("the make run's base, initialised randomly" if base_init == "random"
                    else f"the make run's base ({base_init or 'of unknown origin'})")
            return {"base": (dirs[0], f"{base} ({run})"),
                    "adapted": (dirs[1], "the make run's adapted model: a demo-sized BERT "
                                "trained on data/sample/corpus.txt, not on GAOKAO text"),
                    "student": (dirs[2], "the make run's student of that model")}
    return None


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def describe_model(model_dir, stand_in, description, eval_texts):
    import transformers

    config = _read_json(os.path.join(model_dir, "config.json"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # its "longer than 128" warning: we truncate
    try:
        tokens = [t for text in eval_texts for t in tokenizer.tokenize(text)]
    finally:
        transformers.logging.set_verbosity(verbosity)
    return {"dir": os.path.abspath(model_dir), "stand_in": stand_in, "description": description,
            "num_hidden_layers": config.get("num_hidden_layers"),
            "hidden_size": config.get("hidden_size"), "vocab_size": config.get("vocab_size"),
            "eval_unk_fraction": tokens.count(tokenizer.unk_token) / max(len(tokens), 1)}


def fine_tune(models, train_file, eval_file, output_dir, seed, args):
    """`python -m components.downstream` on the models ({name: dir}) for one seed, in this
    process; {name: {accuracy, macro_f1}}."""
    from components.downstream.__main__ import main as downstream_main

    argv = []
    for name, model_dir in models.items():
        argv += ["--model_dir", model_dir, "--model_name", name]
    argv += ["--train_file", train_file, "--eval_file", eval_file, "--output_dir", output_dir,
             "--seeds", str(seed), "--num_train_epochs", str(args.num_train_epochs),
             "--learning_rate", str(args.learning_rate),
             "--train_batch_size", str(args.train_batch_size),
             "--max_seq_length", str(args.max_seq_length)]
    print("$ python -m components.downstream " + shlex.join(argv), flush=True)
    try:
        downstream_main(argv)
    except SystemExit as stop:
        if stop.code:
            sys.exit(f"error: components.downstream stopped (exit code {stop.code}) on "
                     f"{train_file}; its error line is above")
    with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    return {name: {key: metrics["models"][name]["per_seed"][str(seed)][key]
                    for key in ("accuracy", "macro_f1")} for name in models}


def encoder_throughput(teacher_dir, student_dir, args):
    """Sequences/s of the two encoders (BertModel forward, no MLM head), called in turns."""
    import numpy as np
    import torch
    import transformers

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    encoders = {name: transformers.BertForMaskedLM.from_pretrained(d).bert.to(device).eval()
                for name, d in (("teacher", teacher_dir), ("student", student_dir))}
    vocab = encoders["teacher"].config.vocab_size
    rng = np.random.default_rng(0)
    inputs = {"input_ids": torch.as_tensor(rng.integers(5, vocab, (args.speed_batch,
                                                                     args.speed_sequence))),
              "attention_mask": torch.ones(args.speed_batch, args.speed_sequence,
                                           dtype=torch.long),
              "token_type_ids": torch.zeros(args.speed_batch, args.speed_sequence,
                                            dtype=torch.long)}
    inputs = {k: v.to(device) for k, v in inputs.items()}

    @torch.inference_mode()
    def call(encoder):
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            encoder(**inputs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    for encoder in encoders.values():
        for _ in range(3):
            call(encoder)
    seconds = {name: [] for name in encoders}
    started = time.perf_counter()
    while len(seconds["teacher"]) < args.speed_rounds or \
            time.perf_counter() - started < args.speed_seconds:
        for name, encoder in encoders.items():
            seconds[name].append(call(encoder))
    rates = {name: args.speed_batch * len(v) / sum(v) for name, v in seconds.items()}
    per_round = [t / s for t, s in zip(seconds["teacher"], seconds["student"], strict=True)]
    return {"batch": args.speed_batch, "sequence": args.speed_sequence,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
            f"CPU ({torch.get_num_threads()} threads)", "precision": "bf16" if bf16 else "fp32",
            "rounds": len(per_round), "teacher_sequences_per_second": rates["teacher"],
            "student_sequences_per_second": rates["student"],
            "ratio": rates["student"] / rates["teacher"], "ratio_min": min(per_round),
            "ratio_max": max(per_round)}


def role_texts(items, flag):
    """{role: text} of ROLE=WHAT items; exits with one line on another shape or role."""
    texts = dict(item.split("=", 1) for item in items if "=" in item)
    if len(texts) != len(items) or set(texts) - set(report.ROLES):
        sys.exit(f"error: {flag} {items}: each is ROLE=WHAT with ROLE base, adapted or "
                 f"student, e.g. {flag} base='random-init BERT-base'")
    return texts


def resolve_models(args):
    """({role: dir}, {role: stand-in description or None}); None when nothing to run."""
    given = {"base": args.base_model_dir, "adapted": args.adapted_model_dir,
             "student": args.student_model_dir}
    stand_ins = role_texts(args.stand_in, "--stand_in")
    if all(given.values()):
        return given, {role: stand_ins.get(role) for role in given}
    if any(given.values()):
        sys.exit("error: pass all three of --base_model_dir, --adapted_model_dir and "
                 "--student_model_dir, or none (the newest make run's models)")
    found = make_run_models()
    if found is None:
        return None, None
    if args.learning_rate is None:
        args.learning_rate = STAND_IN_LEARNING_RATE
        args.learning_rate_why = STAND_IN_LEARNING_RATE_WHY
    return {r: d for r, (d, _) in found.items()}, {r: w for r, (_, w) in found.items()}


def run(args):
    rows = data.read_rows(args.data)
    evaluation, pool = data.split_eval(rows, args.eval_per_class)
    if args.write_dapt_corpus_without_eval:
        summary = data.write_corpus_without_eval(args.dapt_corpus,
                                                 args.write_dapt_corpus_without_eval,
                                                 evaluation, rows)
        print(json.dumps(summary, ensure_ascii=False, indent=1))
        return summary
    models, stand_ins = resolve_models(args)
    descriptions = role_texts(args.describe, "--describe")
    if args.learning_rate is None:
        args.learning_rate = LEARNING_RATE
    if models is None:
        print("skipped: no --*_model_dir given and no make run under runs/local (run make run "
              "first, or pass the three models)")
        return None
    started = time.perf_counter()
    os.makedirs(args.output_dir, exist_ok=True)
    eval_file = os.path.join(args.output_dir, "eval.jsonl")
    data.write_jsonl(eval_file, evaluation)
    result = {
        "data": {"file": os.path.abspath(args.data), "sha256": sha256_file(args.data),
                 "description": DATA_DESCRIPTION, "rows": len(rows),
                 "labels": {label: len(group) for label, group in data.by_label(rows).items()},
                 "eval_per_class": args.eval_per_class, "eval_rows": len(evaluation)},
        "models": {role: describe_model(models[role], stand_ins[role],
                                        descriptions.get(role), [r["text"] for r in evaluation])
                   for role in report.ROLES},
        "dapt_corpus": data.corpus_overlap(args.dapt_corpus, evaluation, rows)
        if args.dapt_corpus else None,
        "recipe": {"num_train_epochs": args.num_train_epochs,
                   "learning_rate": args.learning_rate,
                   "train_batch_size": args.train_batch_size,
                   "max_seq_length": args.max_seq_length, "seeds": args.seed_list},
        "recipe_text": f"python -m components.downstream, epochs {args.num_train_epochs:g}, "
                       f"learning rate {args.learning_rate:g}"
                       + (f" ({args.learning_rate_why})" if args.learning_rate_why else "")
                       + f", batch {args.train_batch_size}, "
                       f"{args.max_seq_length} tokens (the rest of its defaults); seed s: the "
                       "s-th training sample and fine-tuning seed s, the same for the three "
                       "models",
        "sizes": {}, "throughput": None, "complete": False}
    for size in args.size_list:
        per_seed = {}
        for seed in args.seed_list:
            train_rows = data.sample_train(pool, size, seed)
            train_file = os.path.join(args.output_dir, f"train-{size}-seed{seed}.jsonl")
            data.write_jsonl(train_file, train_rows)
            per_seed[str(seed)] = fine_tune(models, train_file, eval_file,
                                            os.path.join(args.output_dir, f"run-{size}-seed{seed}"),
                                            seed, args)
        counts = {label: min(size, len(group)) for label, group in pool.items()}
        result["sizes"][str(size)] = {
            "train_per_class": counts,
            "capped": {label: n for label, n in counts.items() if n < size},
            **report.summarize_size(per_seed)}
        _write(result, args)
    if args.speed_rounds:
        result["throughput"] = encoder_throughput(models["adapted"], models["student"], args)
    result["notes"] = notes(result)
    result["goals"] = report.goals(result)
    result["complete"] = True
    result["wall_seconds"] = time.perf_counter() - started
    _write(result, args)
    print(report.markdown(result))
    return result


def notes(result):
    out = []
    capped = {size: f["capped"] for size, f in result["sizes"].items() if f["capped"]}
    for size, labels in capped.items():
        out.append(f"{size} per class is capped where a subject has fewer training rows: "
                   + ", ".join(f"{k} {v}" for k, v in labels.items())
                   + "; accuracy is over a balanced evaluation set, macro-F1 weighs each "
                   "subject alike")
    if result["dapt_corpus"]:
        out.append("the corpus check matches question text only: a passage of a question's "
                   "analysis that does not quote it is not found (the labelled file keeps no "
                   "analysis text)")
    return out


def _write(result, args):
    write_json_atomic(os.path.join(args.output_dir, "results.json"), result)
    if result.get("goals") is not None:
        write_text_atomic(os.path.join(args.output_dir, "results.md"), report.markdown(result))


def int_list(flag, text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        sys.exit(f"error: {flag}={text} is not a comma-separated list of integers")
    if not values or min(values) < 1 or len(set(values)) != len(values):
        sys.exit(f"error: {flag}={text}: pass distinct positive integers, e.g. 1,2,3")
    return values


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    for role, what in (("base", "the general-domain model DAPT started from"),
                       ("adapted", "the domain-adapted model (the teacher)"),
                       ("student", "the adapted model's distilled student")):
        parser.add_argument(f"--{role}_model_dir", help=f"{what}: a transformers "
                            "BertForMaskedLM directory with its vocab (default: the newest "
                            "make run's, as stand-ins)")
    parser.add_argument("--stand_in", action="append", default=[], metavar="ROLE=WHAT",
                        help="mark a given model as a stand-in, e.g. base='random-init "
                        "BERT-base' (repeat per role); its goals are then not judged")
    parser.add_argument("--describe", action="append", default=[], metavar="ROLE=WHAT",
                        help="say what a given model is in the results, e.g. adapted='m3e-small "
                        "after 900 s of masked-LM' (repeat per role); its goals are judged")
    parser.add_argument("--data", default=DATA, help="labelled JSONL rows {text, label} "
                        "(default: %(default)s)")
    parser.add_argument("--per_class", default="32,256", help="training examples per class, "
                        "one run per size, comma-separated (default: %(default)s)")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds: training "
                        "sample and fine-tuning seed (default: %(default)s)")
    parser.add_argument("--eval_per_class", type=int, default=30, help="evaluation questions "
                        "per class, the same for every size and seed (default: %(default)s)")
    parser.add_argument("--num_train_epochs", type=float, default=5.0, help="fine-tuning "
                        "epochs, more than run_glue's 3 for a few hundred rows (default: "
                        "%(default)s)")
    parser.add_argument("--learning_rate", type=float, default=None, help="fine-tuning peak "
                        f"learning rate (default: {LEARNING_RATE:g}; {STAND_IN_LEARNING_RATE:g} "
                        "for the make run's stand-ins)")
    parser.add_argument("--train_batch_size", type=int, default=16, help="fine-tuning batch "
                        "(default: %(default)s)")
    parser.add_argument("--max_seq_length", type=int, default=128, help="tokens per question, "
                        "longer ones are truncated (default: %(default)s)")
    parser.add_argument("--dapt_corpus", help="the unlabelled corpus the adapted model was "
                        "trained on (one passage a line): report the evaluation questions it "
                        "holds")
    parser.add_argument("--write_dapt_corpus_without_eval", metavar="OUT", help="write "
                        "--dapt_corpus without the passages holding an evaluation question to "
                        "OUT, print what was removed, and exit")
    parser.add_argument("--speed_batch", type=int, default=32, help="sequences per timed call "
                        "(default: %(default)s)")
    parser.add_argument("--speed_sequence", type=int, default=128, help="tokens per sequence "
                        "(default: %(default)s)")
    parser.add_argument("--speed_rounds", type=int, default=10, help="timed calls of each "
                        "encoder at least; 0: no timing (default: %(default)s)")
    parser.add_argument("--speed_seconds", type=float, default=5.0, help="time the encoders "
                        "at least this long (default: %(default)s)")
    parser.add_argument("--output_dir", default=os.path.join(ROOT, "build", "bench-downstream"),
                        help="results.json, results.md, the samples and each run's output "
                        "(default: %(default)s)")
    args = parser.parse_args(argv)
    args.learning_rate_why = None
    args.size_list = int_list("--per_class", args.per_class)
    args.seed_list = int_list("--seeds", args.seeds)
    if args.write_dapt_corpus_without_eval and not args.dapt_corpus:
        parser.error("--write_dapt_corpus_without_eval needs --dapt_corpus")
    if args.eval_per_class < 1:
        parser.error("--eval_per_class must be at least 1")
    return args


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
