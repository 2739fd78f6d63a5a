"""The commands `test_rerun_cli.py` runs twice: for each, how to run it on the test inputs,
what it writes, and which of the three rerun behaviours its `--help` states (see that file).
"""

import dataclasses
import os
import pathlib
from collections.abc import Callable

SAMPLE_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "sample"
TINY_BERT = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 32}
# What each behaviour's help says (a regular expression).
REPLACED = "a rerun replaces it"
RESUMED = "a rerun (with the same --checkpoint_dir )?resumes"
REFUSED = "is refused unless"
# pipeline.py's commands that write no output path of their own (see the module docstring).
PIPELINE_NEW_RUN_DIR = {"run-local", "rerun", "hdfs-import"}
PIPELINE_WRITES_NOTHING = {"submit", "params"}
STALE = "left-by-an-earlier-run.txt"


@dataclasses.dataclass
class Case:
    """One command: how to run it on `inputs` writing under `out`, what it writes."""
    cli: tuple                     # (module, sub-command), as in test_structure.DECLARATIONS
    behaviour: str                 # REPLACED, RESUMED or REFUSED
    flags: tuple                   # its output flags, whose help states the behaviour
    argv: Callable                 # (inputs, out) -> the command's arguments
    outputs: Callable              # out -> the paths it writes (RESUMED: its directory, then
                                   # the files a rerun replaces)
    inputs: str = "data_inputs"    # the module fixture it reads
    other_settings: tuple = ()     # RESUMED: flags that make another run of it
    replace_flag: tuple = ()       # REFUSED: what makes it replace


def _data_argv(inputs):
    return ["--input_dir", inputs["data"]]


CASES = {
    "extract": Case(
        ("components.extract", None), REPLACED, ("--output_dir",),
        lambda i, out: ["--input_file", str(SAMPLE_DIR / "corpus.txt"), "--output_dir", out],
        lambda out: [out]),
    "pretraining_data": Case(
        ("components.pretraining_data", None), REPLACED, ("--output_dir", "--output_file"),
        # The users' spelling: the file's directory is the output.
        lambda i, out: ["--input_file", i["corpus"], "--output_file=" + os.path.join(
            out, "pre_data.tfrecord"), "--vocab_file", str(SAMPLE_DIR / "vocab.txt"),
            "--dupe_factor=1", "--heldout_fraction=0.1", "--num_workers=1"],
        lambda out: [out]),
    "pretraining_data.merge": Case(
        ("components.pretraining_data.merge", None), REPLACED, ("--output_dir",),
        lambda i, out: ["--input_dir", i["data"], "--output_dir", out], lambda out: [out]),
    "report data": Case(
        ("components.report", "data"), REPLACED, ("--output_file",),
        lambda i, out: ["data", "--corpus_dir", i["corpus"], "--pretraining_data_dir", i["data"],
                        "--output_file", os.path.join(out, "data.html")],
        lambda out: [os.path.join(out, "data.html")]),
    "hdfs import": Case(
        ("components.hdfs", "import"), REPLACED, ("--output_dir",),
        lambda i, out: ["import", "--hdfs_path", "/raw/corpus.txt", "--namenode_url",
                        i["hdfs"].url, "--output_dir", out],
        lambda out: [out]),
    "hdfs export": Case(
        ("components.hdfs", "export"), REFUSED, ("--hdfs_path",),
        lambda i, out: ["export", "--input_dir", i["corpus"], "--namenode_url", i["hdfs"].url,
                        "--hdfs_path", "/exports/" + os.path.basename(out)],
        lambda out: [out], replace_flag=("--overwrite", "True")),
    "pipeline.py compile": Case(
        ("pipeline.py", "compile"), REPLACED, ("--output",),
        lambda i, out: ["compile", "--output", os.path.join(out, "pipeline.yaml")],
        lambda out: [os.path.join(out, "pipeline.yaml")]),
    "pipeline.py tfjob": Case(
        ("pipeline.py", "tfjob"), REPLACED, ("--output",),
        lambda i, out: ["tfjob", "--output", os.path.join(out, "tfjob.yaml"), "--",
                        "--input_dir=/mnt/data", "--output_dir=/mnt/model"],
        lambda out: [os.path.join(out, "tfjob.yaml")]),
    "pipeline.py checkpoint-volume": Case(
        ("pipeline.py", "checkpoint-volume"), REPLACED, ("--output",),
        lambda i, out: ["checkpoint-volume", "--output", os.path.join(out, "volume.yaml")],
        lambda out: [os.path.join(out, "volume.yaml")]),
    "pipeline.py serve-manifest": Case(
        ("pipeline.py", "serve-manifest"), REPLACED, ("--output",),
        lambda i, out: ["serve-manifest", "--storage-uri", "s3://bucket/runs/r1/export",
                        "--output", os.path.join(out, "serving.yaml")],
        lambda out: [os.path.join(out, "serving.yaml")]),
    "bert.init": Case(
        ("components.bert.init", None), REPLACED, ("--output_dir",),
        lambda i, out: ["--bert_config_file", i["config"], "--vocab_file",
                        str(SAMPLE_DIR / "vocab.txt"), "--output_dir", out],
        lambda out: [out], inputs="model_inputs"),
    "train": Case(
        ("components.train", None), RESUMED, ("--output_dir", "--checkpoint_dir"),
        # With its evaluation: it writes OUTPUT_DIR/eval_results.json, which a rerun replaces.
        lambda i, out: [*_data_argv(i), "--output_dir", out, "--init_checkpoint", i["base"],
                        "--train_batch_size=4", "--num_train_steps=2", "--num_warmup_steps=0",
                        "--log_every_n_steps=1", "--do_eval=True", "--max_eval_steps=1"],
        lambda out: [out, os.path.join(out, "eval_results.json")], inputs="model_inputs",
        other_settings=("--learning_rate=1e-3",)),
    "evaluate": Case(
        ("components.evaluate", None), REPLACED, ("--output_file",),
        lambda i, out: [*_data_argv(i), "--init_checkpoint", i["trained"], "--max_eval_steps=1",
                        "--output_file", os.path.join(out, "eval.json")],
        lambda out: [os.path.join(out, "eval.json")], inputs="model_inputs"),
    "convert": Case(
        ("components.convert", None), REPLACED, ("--output_dir", "--pytorch_dump_path"),
        lambda i, out: ["--tf_checkpoint_path", i["trained"], "--output_dir",
                        os.path.join(out, "hf_model"), "--pytorch_dump_path",
                        os.path.join(out, "legacy", "pytorch_model.bin"),
                        "--num_parity_examples=2", "--parity_seq_length=16"],
        lambda out: [os.path.join(out, "hf_model"),
                     os.path.join(out, "legacy", "pytorch_model.bin")], inputs="model_inputs"),
    "distill": Case(
        ("components.distill", None), RESUMED, ("--output_dir", "--checkpoint_dir"),
        lambda i, out: ["--teacher_dir", i["hf_model"], *_data_argv(i), "--output_dir", out,
                        "--pytorch_dump_path", out + ".bin", "--student_num_hidden_layers=1",
                        "--num_train_steps=2", "--num_warmup_steps=0", "--train_batch_size=4",
                        "--log_every_n_steps=1", "--max_eval_examples=8"],
        lambda out: [out, out + ".bin"], inputs="model_inputs",
        other_settings=("--learning_rate=1e-3",)),
    "distill.evaluate": Case(
        ("components.distill.evaluate", None), REPLACED, ("--output_file",),
        # Any two models of one vocab: the base model as the "student".
        lambda i, out: ["--teacher_dir", i["hf_model"], "--student_dir", i["base_hf_model"],
                        *_data_argv(i), "--max_eval_examples=8", "--speed_batch_size=2",
                        "--speed_seq_length=16", "--speed_repeats=1",
                        "--output_file", os.path.join(out, "compare.json")],
        lambda out: [os.path.join(out, "compare.json")], inputs="model_inputs"),
    "report model": Case(
        ("components.report", "model"), REPLACED, ("--output_file", "--markdown_file"),
        lambda i, out: ["model", "--pretraining_data_dir", i["data"], "--trained_model_dir",
                        i["trained"], "--base_hf_model_dir", i["base_hf_model"],
                        "--hf_model_dir", i["hf_model"], "--base_eval", i["base_eval"],
                        "--trained_eval", i["trained_eval"], "--fill_mask_examples=1",
                        "--output_file", os.path.join(out, "report.html"),
                        "--markdown_file", os.path.join(out, "summary.md")],
        lambda out: [os.path.join(out, "report.html"), os.path.join(out, "summary.md")],
        inputs="model_inputs"),
    "downstream": Case(
        ("components.downstream", None), REPLACED, ("--output_dir",),
        lambda i, out: ["--model_dir", i["hf_model"], "--train_file",
                        str(SAMPLE_DIR / "labelled.jsonl"), "--output_dir", out, "--seeds=1",
                        "--max_train_examples=32", "--num_train_epochs=1",
                        "--train_batch_size=16", "--max_seq_length=32"],
        lambda out: [out], inputs="model_inputs"),
    "serve_export": Case(
        ("components.serve_export", None), REPLACED, ("--output_dir",),
        lambda i, out: ["--model_dir", i["hf_model"], *_data_argv(i), "--output_dir", out,
                        "--quantize", "int8", "--min_int8_agreement", "0",
                        "--max_parity_examples", "8", "--latency_runs", "0"],
        lambda out: [out], inputs="model_inputs"),
}
