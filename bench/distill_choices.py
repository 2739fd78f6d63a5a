"""The distiller's choices judged downstream: students of one teacher that differ in one setting
each, fine-tuned on GAOKAO subjects like bench/downstream.py's models.

    .venv/bin/python bench/distill_choices.py --teacher_dir T --input_dir DATA --output_dir DIR
        --variant defaults= --variant "kd_all=--kd_positions all" [--variant NAME=FLAGS ...]
        [--distill_args "--student_num_hidden_layers 1 --num_train_steps 300"]
        [--per_class 32] [--seeds 1,2,3] [--eval_per_class 30] [--num_train_epochs 5]

Each --variant NAME=FLAGS is `python -m components.distill` from --teacher_dir on --input_dir
with --distill_args, then FLAGS (empty: the stage's defaults); a student already in
DIR/students/NAME is kept, so a stopped run goes on where it was. Then, for each seed s, the
training sample bench/downstream.py draws for s (k questions per subject, the same evaluation
set) and `python -m components.downstream` with fine-tuning seed s on the teacher and every
student. Reported (stdout, DIR/results.json, DIR/results.md): each model's accuracy and macro-F1
mean ± std over the seeds, each student's accuracy as a share of the teacher's, and each variant
minus the first with a 95 % interval over the seeds (paired by seed): better, worse, or too
small to show (the interval holds 0).
"""

import argparse
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import downstream  # noqa: E402
import downstream_data as data  # noqa: E402
import downstream_report as report  # noqa: E402

from components.common.artifacts import write_json_atomic, write_text_atomic  # noqa: E402,I001
from components.downstream import stats  # noqa: E402

TEACHER = "teacher"
# A variant's paired difference from the reference, judged against 0 as the bench's goals are.
VERDICTS = {"met": "better", "missed": "worse"}


def parse_variants(items):
    """[(name, [flags])] of NAME=FLAGS items, in order; exits with one line on a bad one."""
    variants = []
    for item in items:
        name, sep, flags = item.partition("=")
        if not sep or not name or name == TEACHER or name in dict(variants):
            sys.exit(f"error: --variant {item!r}: each is NAME=FLAGS with a new NAME other "
                     f"than {TEACHER!r}, e.g. --variant 'kd_all=--kd_positions all'")
        variants.append((name, shlex.split(flags)))
    if not variants:
        sys.exit("error: no --variant given; the first is the reference, e.g. --variant "
                 "defaults=")
    return variants


def distill(name, flags, args):
    """The variant's student directory, distilled unless it is there already."""
    student = os.path.join(args.output_dir, "students", name)
    if os.path.isfile(os.path.join(student, "config.json")):
        print(f"{name}: kept the student in {student}", flush=True)
        return student
    command = [sys.executable, "-m", "components.distill", "--teacher_dir", args.teacher_dir,
               "--input_dir", args.input_dir, "--output_dir", student,
               *shlex.split(args.distill_args), *flags]
    print("$ " + shlex.join(command), flush=True)
    started = time.perf_counter()
    with open(os.path.join(args.output_dir, f"distill-{name}.log"), "w") as log:
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    if code:
        sys.exit(f"error: components.distill stopped (exit code {code}) for variant {name}; "
                 f"see {log.name}")
    print(f"{name}: distilled in {time.perf_counter() - started:.0f} s", flush=True)
    return student


def summarize(per_seed, names):
    """per_seed: {seed: {model: {accuracy, macro_f1}}}; names: the variants, the reference
    first → {models: mean ± std, shares: of the teacher, versus_reference: paired, verdict}."""
    models = report.summarize_models(per_seed, (TEACHER, *names))
    shares = {name: stats.share(models, name, TEACHER)["accuracy"] for name in names}
    versus = {}
    for name in names[1:]:
        gain = stats.difference(models, name, names[0])["accuracy"]
        verdict, reason = report.verdict_of_interval(gain["ci95_low"], gain["ci95_high"], 0.0)
        versus[name] = {**gain, "verdict": VERDICTS.get(verdict, verdict), "reason": reason}
    return {"seeds": sorted(per_seed), "models": models, "student_accuracy_share": shares,
            "versus_reference": versus}


def markdown(result):
    names = list(result["variants"])
    summary = result["summary"]
    out = ["# bench/distill_choices.py", "",
           f"Teacher `{result['teacher_dir']}`; common distill flags: "
           f"`{result['distill_args'] or '(none)'}`; {result['per_class']} labelled questions per "
           f"subject, seeds {', '.join(summary['seeds'])}.", "",
           "| model | flags | accuracy | macro-F1 | accuracy / teacher's |",
           "| --- | --- | --- | --- | --- |"]
    for name in (TEACHER, *names):
        model = summary["models"][name]
        if name == TEACHER:
            flags = share = ""
        else:
            flags = shlex.join(result["variants"][name]) or "(defaults)"
            figure = summary["student_accuracy_share"][name]
            share = report.interval(figure, ".4f") if figure else "n/a"
        out.append(f"| {name} | {flags} | "
                   f"{report.plus_minus(model['accuracy_mean'], model['accuracy_std'])} | "
                   f"{report.plus_minus(model['macro_f1_mean'], model['macro_f1_std'])} | "
                   f"{share} |")
    out.append("")
    for name, gain in summary["versus_reference"].items():
        out.append(f"- {name} − {names[0]} accuracy: {report.interval(gain)}: "
                   f"**{gain['verdict']}**")
    return "\n".join(out) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--teacher_dir", required=True, help="the teacher: a BertForMaskedLM "
                        "directory (the convert stage's, or bench/dapt_mlm.py's)")
    parser.add_argument("--input_dir", required=True, help="the pretraining-data directory the "
                        "students are distilled on")
    parser.add_argument("--output_dir", required=True, help="students/, the fine-tuning runs, "
                        "results.json and results.md")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                        help="a student: components.distill flags after --distill_args; the "
                        "first is the reference the others are compared with (repeat)")
    parser.add_argument("--distill_args", default="", help="components.distill flags every "
                        "variant shares, e.g. '--student_num_hidden_layers 1 --num_train_steps "
                        "300 --do_eval False'")
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "gaokao_subjects.jsonl"),
                        help="labelled JSONL rows {text, label}")
    parser.add_argument("--per_class", type=int, default=32, help="training questions per "
                        "subject")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds: training "
                        "sample and fine-tuning seed, as bench/downstream.py draws them")
    parser.add_argument("--eval_per_class", type=int, default=30, help="evaluation questions "
                        "per subject (bench/downstream.py's fixed set)")
    parser.add_argument("--num_train_epochs", type=float, default=5, help="fine-tuning epochs")
    parser.add_argument("--learning_rate", type=float, default=5e-5, help="fine-tuning rate")
    parser.add_argument("--train_batch_size", type=int, default=32, help="fine-tuning batch")
    parser.add_argument("--max_seq_length", type=int, default=128, help="tokens per question")
    args = parser.parse_args(argv)
    args.variants = parse_variants(args.variant)
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: comma-separated integers, e.g. 1,2,3")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    students = {name: distill(name, flags, args) for name, flags in args.variants}
    evaluation, pool = data.split_eval(data.read_rows(args.data), args.eval_per_class)
    eval_file = os.path.join(args.output_dir, "eval.jsonl")
    data.write_jsonl(eval_file, evaluation)
    models = {TEACHER: args.teacher_dir, **students}
    per_seed = {}
    for seed in args.seed_list:
        train_file = os.path.join(args.output_dir, f"train-seed{seed}.jsonl")
        data.write_jsonl(train_file, data.sample_train(pool, args.per_class, seed))
        per_seed[str(seed)] = downstream.fine_tune(
            models, train_file, eval_file, os.path.join(args.output_dir, f"run-seed{seed}"),
            seed, args)
    result = {"teacher_dir": os.path.abspath(args.teacher_dir), "input_dir": args.input_dir,
              "distill_args": args.distill_args, "variants": dict(args.variants),
              "per_class": args.per_class, "eval_rows": len(evaluation),
              "summary": summarize(per_seed, [name for name, _ in args.variants])}
    write_json_atomic(os.path.join(args.output_dir, "results.json"), result)
    write_text_atomic(os.path.join(args.output_dir, "results.md"), markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
