"""pretraining_data benchmark: end-to-end speed, peak memory and time per phase.

    .venv/bin/python bench/pretraining_data.py [--scales 1,10] [--segmenters jieba,rjieba]
        [--pack both|yes|no] [--num_workers N] [--json FILE]

On ../shared/reference/gaokao_corpus.txt (or $EDU_MLM_REFERENCE_DIR) with the real Chinese BERT
vocab and the defaults (dupe_factor 5, max_seq_length 128, ...), at 1× and 10× the corpus (the
file repeated), for jieba and rjieba, with and without --pack. Each run is the CLI in a
subprocess, timed from process start to exit (the last record written, manifest included);
peak RSS is the sum over the process tree, sampled every 20 ms. Phases are the workers' CPU
seconds from the manifest.

Baselines: the issue's figure for the users' script on this corpus (41 k characters/s on 2
cores; quoted, not re-measured), and bench/google_mlm_baseline.py (the users' algorithm,
restated: Python tokenizer, per-token masking, tf.train.Example) measured in this run on a
slice of the corpus, excluding its imports (which favours it).
Also measured: how often jieba and rjieba segment a passage differently, and how that changes
the whole-word masking groups.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

QUOTED_BASELINE_CHARS_PER_S = 41_000
BAR = {"jieba": 410_000, "rjieba": 1_000_000}


def reference_dir():
    return os.environ.get("EDU_MLM_REFERENCE_DIR",
                          os.path.join(ROOT, "..", "shared", "reference"))


def run_measured(command, env=None):
    """(wall seconds, peak RSS bytes of the process tree, CPU seconds of the tree)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    root = psutil.Process(process.pid)
    peak, cpu = 0, {}
    while process.poll() is None:
        try:
            tree = [root] + root.children(recursive=True)
            rss = 0
            for proc in tree:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
                    cpu[proc.pid] = times.user + times.system
            peak = max(peak, rss)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - started
    stdout, stderr = process.communicate()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr.decode()[-2000:]}")
    return wall, peak, sum(cpu.values()), stdout.decode()


def corpus_at_scale(source, scale, directory):
    if scale == 1:
        return source
    path = os.path.join(directory, f"corpus_x{scale}.txt")
    with open(source, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        for _ in range(scale):
            f.write(data)
    return path


def bench_stage(corpus, vocab, segmenter, pack, num_workers, directory):
    out = os.path.join(directory, "out")
    command = [sys.executable, "-m", "components.pretraining_data", "--input_file", corpus,
               "--output_dir", out, "--vocab_file", vocab, "--segmenter", segmenter,
               f"--pack={pack}"]
    if num_workers:
        command.append(f"--num_workers={num_workers}")
    env = dict(os.environ, EDU_MLM_NO_PROGRESS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    wall, peak, cpu, _ = run_measured(command, env)
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    instances = manifest["train_instances"] + manifest["heldout_instances"]
    return {"seconds": wall, "chars_per_s": manifest["counts"]["characters"] / wall,
            "instances_per_s": instances / wall, "instances": instances,
            "peak_rss_mib": peak / 2**20, "cpu_seconds": cpu,
            "chars_per_cpu_s": manifest["counts"]["characters"] / max(cpu, 1e-9),
            "phases": manifest["phase_cpu_seconds"],
            "padding_fraction": manifest["padding_fraction"],
            "alternative_padding_fraction": manifest["alternative_padding_fraction"]}


def bench_baseline(corpus, vocab, characters, directory):
    command = [sys.executable, os.path.join(ROOT, "bench", "google_mlm_baseline.py"),
               "--input_file", corpus, "--vocab_file", vocab, "--characters", str(characters),
               "--output_file", os.path.join(directory, "baseline.tfrecord")]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    wall, peak, _, stdout = run_measured(command, env)
    result = json.loads(stdout.strip().splitlines()[-1])
    result["chars_per_s"] = result["characters"] / result["seconds"]
    result["chars_per_cpu_s"] = result["characters"] / result["cpu_seconds"]
    result["peak_rss_mib"] = peak / 2**20
    return result


def segmenter_agreement(corpus, vocab_file):
    """Share of passages jieba and rjieba cut differently, and the effect on masking groups."""
    from components.bert.vocab import load_vocab
    from components.pretraining_data import segment, wordpiece

    with open(corpus, encoding="utf-8") as f:
        passages = [line.strip() for line in f if line.strip()]
    vocab = load_vocab(vocab_file)
    ids, starts, counts = wordpiece.PassageEncoder(
        wordpiece.build_tokenizer(vocab)).encode(passages)
    chars = np.fromiter(map(len, passages), dtype=np.int64)
    flags, cuts = {}, {}
    for name in ("jieba", "rjieba"):
        segmenter = segment.Segmenter(name)
        cuts[name] = [segmenter.cut(p) for p in passages]
        flags[name] = segment.continuation_flags(ids, starts, counts, chars,
                                                 segmenter.word_lengths(passages),
                                                 vocab.is_subword)
    differ = flags["jieba"] != flags["rjieba"]
    passage_of_token = np.repeat(np.arange(len(passages)), counts)
    group_sizes = {name: len(ids) / max(1, int((~f).sum())) for name, f in flags.items()}
    return {
        "passages": len(passages),
        "passages_cut_differently": sum(a != b for a, b in zip(cuts["jieba"], cuts["rjieba"],
                                                                strict=True)) / len(passages),
        "passages_with_different_groups": len(np.unique(passage_of_token[differ])) / len(passages),
        "tokens_with_different_group_boundary": float(differ.mean()),
        "mean_group_tokens": group_sizes,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,10", help="corpus multiples to run")
    parser.add_argument("--segmenters", default="jieba,rjieba")
    parser.add_argument("--pack", default="both", choices=["both", "yes", "no"])
    parser.add_argument("--num_workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--baseline_characters", type=int, default=150_000,
                        help="corpus slice for the measured baseline (0 skips it)")
    parser.add_argument("--skip_agreement", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    corpus = os.path.join(reference_dir(), "gaokao_corpus.txt")
    vocab = os.path.join(reference_dir(), "chinese_bert_vocab.txt")
    if not (os.path.isfile(corpus) and os.path.isfile(vocab)):
        raise SystemExit(f"reference data not found in {reference_dir()}; "
                         "set EDU_MLM_REFERENCE_DIR")
    packs = {"both": [False, True], "yes": [True], "no": [False]}[args.pack]
    cores = len(os.sched_getaffinity(0))
    print(f"cores: {cores}, workers: {args.num_workers or cores}, load average: "
          f"{os.getloadavg()[0]:.1f} (other work on the machine makes every figure noisy)")
    results = {"runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-pretraining-") as tmp:
        if args.baseline_characters:
            base = bench_baseline(corpus, vocab, args.baseline_characters, tmp)
            results["baseline"] = base
            print(f"measured baseline (users' algorithm, 1 process, {base['characters']:,} chars,"
                  f" imports excluded): {base['chars_per_s'] / 1e3:.1f} k chars/s, "
                  f"{base['chars_per_cpu_s'] / 1e3:.1f} k chars/CPU-s")
        print(f"quoted baseline (issue 6, users' script, 2 cores): "
              f"{QUOTED_BASELINE_CHARS_PER_S / 1e3:.0f} k chars/s (not re-measured)")
        header = (f"{'scale':>5} {'segmenter':>9} {'pack':>5} {'wall s':>7} {'k chars/s':>10} "
                  f"{'inst/s':>8} {'x quoted':>8} {'x meas.':>8} {'bar':>5} {'RSS MiB':>8} "
                  f"{'k ch/CPU-s':>10}  phases (CPU s)")
        print(header)
        for scale in (int(s) for s in args.scales.split(",")):
            scaled = corpus_at_scale(corpus, scale, tmp)
            for segmenter in args.segmenters.split(","):
                for pack in packs:
                    run = bench_stage(scaled, vocab, segmenter, pack, args.num_workers, tmp)
                    run.update(scale=scale, segmenter=segmenter, pack=pack)
                    results["runs"].append(run)
                    measured = results.get("baseline", {}).get("chars_per_s")
                    phases = " ".join(f"{k} {v:.1f}" for k, v in run["phases"].items())
                    print(f"{scale:>4}x {segmenter:>9} {str(pack):>5} {run['seconds']:7.2f} "
                          f"{run['chars_per_s'] / 1e3:10.0f} {run['instances_per_s']:8.0f} "
                          f"{run['chars_per_s'] / QUOTED_BASELINE_CHARS_PER_S:8.1f} "
                          f"{run['chars_per_s'] / measured if measured else float('nan'):8.1f} "
                          f"{'met' if run['chars_per_s'] >= BAR[segmenter] else 'no':>5} "
                          f"{run['peak_rss_mib']:8.0f} {run['chars_per_cpu_s'] / 1e3:10.0f}  "
                          f"{phases}", flush=True)
        for run in results["runs"]:
            if run["scale"] != 1:
                one = next((r for r in results["runs"] if r["scale"] == 1
                            and r["segmenter"] == run["segmenter"] and r["pack"] == run["pack"]),
                           None)
                if one:
                    print(f"peak RSS {run['scale']}x / 1x ({run['segmenter']}, pack="
                          f"{run['pack']}): {run['peak_rss_mib'] / one['peak_rss_mib']:.2f}")
        for run in results["runs"]:
            if run["scale"] == 1 and run["pack"] and run["segmenter"] == "jieba":
                print(f"padding: {run['alternative_padding_fraction']:.1%} unpacked, "
                      f"{run['padding_fraction']:.1%} with --pack")
    if not args.skip_agreement:
        agreement = segmenter_agreement(corpus, vocab)
        results["agreement"] = agreement
        print(f"jieba vs rjieba on {agreement['passages']} passages: "
              f"{agreement['passages_cut_differently']:.1%} cut differently, "
              f"{agreement['passages_with_different_groups']:.1%} with different masking groups,"
              f" {agreement['tokens_with_different_group_boundary']:.2%} of tokens change group "
              f"boundary; mean tokens per group " + ", ".join(
                  f"{k} {v:.3f}" for k, v in agreement["mean_group_tokens"].items()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
