"""The distill stage on a GPU: a BERT-base-sized teacher -> a 4-layer student, bf16, steps/s and
MFU with and without torch.compile (`make bench-gpu`; bench/distill.py has the CPU parts).

    python bench/distill_gpu.py --vocab_file VOCAB --input_dir DATA [--steps 200]
        [--train_batch_size 32 128] [--torch_compile on|off|both] [--skip_eval]
        [--baseline_code DIR] [--output OUT.json]

The teacher is a randomly initialised BERT-base (12 x 768, 12 heads, 3072, Google's Chinese vocab
when VOCAB is it) saved as the convert stage saves one: throughput does not depend on its
weights, and a real one would not travel to a GPU machine that reaches no registry. DATA is a
pretraining-data directory made with VOCAB (the records cycle when it is small). Each setting runs
`python -m components.distill` itself, as the pipeline's pod does: the stage's own data feed,
logging and checkpoints, so that input wait and the time the loop spends outside the step count.
The figures are the stage's own, from the last interval of `distill_log.jsonl` (examples/s, model
TFLOP/s, MFU against the detected GPU's data-sheet peak, input wait); the first step of a process,
which compiles, is outside every interval. After training the stage's comparison measures the
teacher and the student's inference on the CPU and the GPU (`--skip_eval` leaves it out).

`--baseline_code DIR`: DIR holds another copy of the project's `components/` (e.g. an older commit,
`git archive COMMIT components | tar -x -C DIR`); each setting then runs the stage twice, with
that code and with this checkout's, on the same teacher, data and flags, and prints the ratio
of their steps/s and both MFUs.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from distill import module_command  # noqa: E402
from distill_speed import SIZES  # noqa: E402


def make_random_teacher(vocab_file, directory):
    """The speed part's BERT-base `BertForMaskedLM` with random weights, as a save_pretrained
    directory."""
    from transformers import BertConfig, BertForMaskedLM

    from components.bert.vocab import count_vocab
    from components.convert.torch_model import tokenizer

    layers, hidden, heads, intermediate = SIZES["base"][0]
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=count_vocab(vocab_file), hidden_size=hidden,
                                       num_hidden_layers=layers, num_attention_heads=heads,
                                       intermediate_size=intermediate,
                                       max_position_embeddings=512))
    model.save_pretrained(directory)
    tokenizer(vocab_file, 512).save_pretrained(directory)
    shutil.copyfile(vocab_file, os.path.join(directory, "vocab.txt"))  # as the convert stage


def run_stage(args, teacher_dir, output_dir, batch_size, compiled, code_dir=ROOT):
    """The stage's CLI in its own process, with the `components/` of `code_dir`; returns its
    figures: the last logged interval with the seconds of the first step, the comparison's
    inference speeds (without --skip_eval), wall seconds."""
    flags = {"teacher_dir": teacher_dir, "input_dir": args.input_dir, "output_dir": output_dir,
             "student_num_hidden_layers": SIZES["base"][1][0], "precision": "bf16",
             "torch_compile": str(compiled).lower(), "train_batch_size": batch_size,
             "num_train_steps": args.steps, "num_warmup_steps": max(1, args.steps // 10),
             "log_every_n_steps": args.log_every, "save_checkpoints_steps": args.steps,
             "max_eval_examples": args.max_eval_examples,
             "do_eval": str(not args.skip_eval).lower()}
    # code_dir first; the rest of PYTHONPATH (e.g. wheels unpacked on a machine without pip) kept.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [code_dir] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    started = time.perf_counter()
    subprocess.run(module_command("components.distill", flags), cwd=code_dir, env=env,
                   check=True)
    seconds = time.perf_counter() - started
    with open(os.path.join(output_dir, "distill_log.jsonl"), encoding="utf-8") as f:
        entries = [json.loads(line) for line in f]
    result = {"code": code_dir, "train_batch_size": batch_size, "torch_compile": compiled,
              "seconds": seconds, "last_interval": entries[-1],
              "first_step_seconds": next((e["compile_seconds"] for e in entries
                                          if "compile_seconds" in e), None),
              "speed_settings": None, "speed": {}}
    if not args.skip_eval:
        with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
            metrics = json.load(f)
        result.update(speed_settings=metrics["speed_settings"], speed=metrics["speed"])
    return result


def steps_per_second(result):
    return result["last_interval"]["examples_per_sec"] / result["train_batch_size"]


def compare(baseline, new):
    """The new code's figures against the baseline's in the same setting."""
    mfus = [r["last_interval"].get("mfu") for r in (baseline, new)]
    return {"train_batch_size": new["train_batch_size"], "torch_compile": new["torch_compile"],
            "steps_per_sec_baseline": steps_per_second(baseline),
            "steps_per_sec_new": steps_per_second(new),
            "steps_per_sec_ratio": steps_per_second(new) / steps_per_second(baseline),
            "mfu_baseline": mfus[0], "mfu_new": mfus[1]}


def describe_comparison(c):
    mfus = " -> ".join("n/a" if m is None else f"{m:.1%}" for m in (c["mfu_baseline"],
                                                                    c["mfu_new"]))
    return (f"batch {c['train_batch_size']:>3} x 128, torch.compile "
            f"{'on ' if c['torch_compile'] else 'off'}: {c['steps_per_sec_baseline']:7.2f} -> "
            f"{c['steps_per_sec_new']:7.2f} steps/s ({c['steps_per_sec_ratio']:.2f}x), "
            f"MFU {mfus}")


def describe(result):
    last, batch_size = result["last_interval"], result["train_batch_size"]
    line = (f"batch {batch_size:>3} x 128, torch.compile "
            f"{'on ' if result['torch_compile'] else 'off'}: "
            f"{last['examples_per_sec'] / batch_size:7.2f} steps/s, "
            f"{last['examples_per_sec']:8.1f} examples/s, {last['model_tflops']:6.1f} TFLOP/s, "
            f"MFU {last.get('mfu', float('nan')):.1%}, input wait "
            f"{last['input_wait_fraction']:.1%}; first step (compiles) "
            f"{result['first_step_seconds'] or float('nan'):.1f} s, whole run "
            f"{result['seconds']:.0f} s")
    if result["code"] != ROOT:
        line = f"[{result['code']}] {line}"
    settings = result["speed_settings"]
    for device, speed in result["speed"].items():
        teacher, student = (speed["measured"][k] for k in ("teacher", "student"))
        line += (f"\n      inference on {device}, sequences/s at batch "
                 f"{settings['batch_size']} x {settings['seq_length']}: teacher "
                 f"{teacher['sequences_per_second']:.0f}, student "
                 f"{student['sequences_per_second']:.0f} ({speed['throughput']:.2f}x); p50 at "
                 f"batch 1: {teacher['latency_ms_p50']:.1f} vs {student['latency_ms_p50']:.1f} "
                 f"ms ({speed['latency']:.2f}x)")
    return line


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vocab_file", required=True, help="the teacher's vocab.txt (the data's)")
    p.add_argument("--input_dir", required=True, help="pretraining data made with --vocab_file")
    p.add_argument("--steps", type=int, default=200, help="training steps per setting")
    p.add_argument("--log_every", type=int, default=100,
                   help="interval of distill_log.jsonl; the last one gives the figures")
    p.add_argument("--train_batch_size", type=int, nargs="+", default=[32, 128],
                   help="batch sizes to measure, each with and without torch.compile")
    p.add_argument("--torch_compile", choices=("on", "off", "both"), default="both",
                   help="measure each batch size with torch.compile on, off or both")
    p.add_argument("--max_eval_examples", type=int, default=64,
                   help="held-out records of the stage's comparison after training")
    p.add_argument("--skip_eval", action="store_true",
                   help="run the stage with --do_eval false: no comparison and inference "
                   "speeds after training (a shorter run)")
    p.add_argument("--baseline_code", metavar="DIR",
                   help="another copy of the project's components/ (e.g. from git archive of "
                   "an older commit): each setting runs with it and with this checkout's, "
                   "and the ratio of their steps/s is printed")
    p.add_argument("--output", help="also write the figures here as JSON")
    args = p.parse_args(argv)
    # The stage may run in another directory (--baseline_code).
    args.input_dir, args.vocab_file = map(os.path.abspath, (args.input_dir, args.vocab_file))
    if args.baseline_code:
        args.baseline_code = os.path.abspath(args.baseline_code)
        if not os.path.isfile(os.path.join(args.baseline_code, "components", "distill",
                                           "__main__.py")):
            p.error(f"--baseline_code {args.baseline_code}: no components/distill/__main__.py "
                    "there (extract the project's components/ into it)")
    if not torch.cuda.is_available():
        p.error("no GPU visible: this benchmark measures the stage on a GPU")
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    compile_settings = {"off": (False,), "on": (True,), "both": (False, True)}[args.torch_compile]
    codes = (args.baseline_code, ROOT) if args.baseline_code else (ROOT,)
    results, comparisons = [], []

    def save():  # after every setting, so that a run cut short keeps what it measured
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                json.dump({"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                           "results": results, "comparisons": comparisons}
                          if args.baseline_code else results, f, indent=2)

    with tempfile.TemporaryDirectory(prefix="bench-distill-gpu-") as tmp:
        teacher_dir = os.path.join(tmp, "teacher")
        make_random_teacher(args.vocab_file, teacher_dir)
        for batch_size in args.train_batch_size:
            for compiled in compile_settings:
                pair = []
                for number, code_dir in enumerate(codes):
                    output_dir = os.path.join(tmp, f"student-{batch_size}-{compiled}-{number}")
                    pair.append(run_stage(args, teacher_dir, output_dir, batch_size, compiled,
                                          code_dir))
                    print(describe(pair[-1]), flush=True)
                results += pair
                if args.baseline_code:
                    comparisons.append(compare(*pair))
                    print(describe_comparison(comparisons[-1]), flush=True)
                save()
    print("\n== the stage on a GPU: BERT-base teacher (12x768) -> 4x768 student from its layers")
    for result in results:
        print("  " + describe(result))
    if comparisons:
        print(f"\n== this checkout against {args.baseline_code}")
        for comparison in comparisons:
            print("  " + describe_comparison(comparison))


if __name__ == "__main__":
    main()
