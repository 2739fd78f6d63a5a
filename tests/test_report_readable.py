"""The reports read without the manual: rendered in headless Chromium from a real (tiny) run's
artifacts, they show labels with units instead of the manifests' keys, no path of this machine,
parity with its verdict and limit, the held-out sizes and the training time and throughput; and
the footer of a local run names HTML files a browser opens."""

import json

import pytest
from helpers_report import (
    all_keys,
    external_references,
    machine_paths,
    make_corpus_and_data,
    raw_keys,
    render,
    visible_text,
)

from components.common.artifacts import read_manifest
from components.pipeline.summary import footer_lines
from components.report import labels
from components.report.data import write_data_report
from components.report.model import headline_metrics, write_model_report

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory, sample_dir):
    """What a pipeline run makes, small: data, a base and a 4-step trained model, both
    evaluated on the held-out split and converted (with parity)."""
    from components.bert.arguments import BertInitArguments
    from components.bert.init import init_random_model
    from components.convert.arguments import ConvertArguments
    from components.convert.core import convert
    from components.evaluate.arguments import EvaluateArguments
    from components.evaluate.heldout import evaluate
    from components.train.arguments import TrainArguments
    from components.train.loop import train

    root = tmp_path_factory.mktemp("run")
    corpus, data, data_manifest = make_corpus_and_data(root, sample_dir)
    init_random_model(BertInitArguments(str(sample_dir / "bert_config.json"),
                                        str(sample_dir / "vocab.txt"), str(root / "base"),
                                        random_seed=1))
    train(TrainArguments(str(data), str(root / "trained"), init_checkpoint=str(root / "base"),
                         num_train_steps=4, num_warmup_steps=1, log_every_n_steps=2,
                         train_batch_size=8, max_seq_length=data_manifest["max_seq_length"],
                         max_predictions_per_seq=data_manifest["max_predictions_per_seq"]))
    run = {"root": root, "corpus": corpus, "data": data, "data_metrics": data_manifest,
           "corpus_manifest": read_manifest(str(corpus), kind="corpus"),
           "train_metrics": read_manifest(str(root / "trained"), kind="bert_model")}
    for which in ("base", "trained"):
        run[f"{which}_eval"] = evaluate(EvaluateArguments(str(data), str(root / which)))
    run["base_parity"] = convert(ConvertArguments(
        tf_checkpoint_path=str(root / "base"), output_dir=str(root / "base_hf"),
        parity_data=str(data)))
    run["parity"] = convert(ConvertArguments(
        tf_checkpoint_path=str(root / "trained"), output_dir=str(root / "hf"),
        parity_data=str(data)))
    with open(root / "trained" / "train_log.jsonl", encoding="utf-8") as f:
        run["train_log"] = [json.loads(line) for line in f]
    return run


def test_model_report_reads_without_the_manual(run, tmp_path, tmp_path_factory, repo_root):
    root = run["root"]
    page = tmp_path / "report.html"
    values = write_model_report(
        pretraining_data_dir=str(run["data"]), data_metrics=run["data_metrics"],
        trained_model_dir=str(root / "trained"), train_metrics=run["train_metrics"],
        base_eval=run["base_eval"], trained_eval=run["trained_eval"],
        base_hf_model_dir=str(root / "base_hf"), hf_model_dir=str(root / "hf"),
        parity=run["parity"], base_parity=run["base_parity"], html_file=str(page),
        markdown_file=str(tmp_path / "summary.md"), fill_mask_examples=2)
    assert external_references(page.read_text(encoding="utf-8")) == []
    assert render(page, tmp_path / "report.png") == []
    text = " ".join(visible_text(page).split())

    keys = all_keys(run["data_metrics"], run["train_metrics"], run["base_eval"],
                    run["parity"], *run["train_log"], values)
    assert raw_keys(text, keys) == []
    assert machine_paths(text, tmp_path_factory, repo_root) == []
    evaluated = run["trained_eval"]
    assert (f"{evaluated['num_examples']} examples ({int(evaluated['num_masked_tokens'])} "
            "positions masked)") in text
    tolerance = run["parity"]["tolerance"]
    for parity in (run["base_parity"], run["parity"]):
        assert f"✓ {parity['max_abs_logit_diff']:.3g} ≤ {tolerance:.3g}" in text
    assert f"The conversion fails when the largest difference is above {tolerance:.3g}" in text
    for figure in ("steps trained 4 steps", "first step (tracing and compilation)",
                   "time in training steps", "examples/s", "tokens/s",
                   "model FLOPs utilization (MFU) not known"):
        assert figure in text, figure
    # The logged intervals are there, folded: each step's loss once.
    assert text.count(f"{run['train_log'][0]['loss']:.4g} nats") == 1

    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "| held-out loss, trained model |" in summary and "`masked_lm_loss_after`" in summary
    assert machine_paths(summary, tmp_path_factory, repo_root) == []


def test_data_report_reads_without_the_manual(run, tmp_path, tmp_path_factory, repo_root):
    page = tmp_path / "data.html"
    write_data_report(str(run["corpus"]), str(run["data"]), str(page))
    assert render(page, tmp_path / "data.png") == []
    text = " ".join(visible_text(page).split())

    data = run["data_metrics"]
    assert raw_keys(text, all_keys(data, run["corpus_manifest"])) == []
    assert machine_paths(text, tmp_path_factory, repo_root) == []
    # One padding figure, not three names for it; no histogram as a comma list.
    assert text.count(labels.percent(data["padding_fraction"])) == 1
    histogram = data["counts"]["train"]["instance_real_tokens_histogram"]
    assert ", ".join(map(str, histogram)) not in text
    assert "padding (pack on, as made)" in text and "text files: corpus.txt" in text
    assert f"training instances {data['train_instances']:,} instances" in text


def test_every_key_a_report_lists_has_a_label(run):
    """A number the trainer, the evaluation or the converter starts to log needs a label."""
    values = headline_metrics(run["data_metrics"], run["train_metrics"], run["train_log"],
                              run["base_eval"], run["trained_eval"], run["parity"])
    numbers = {k for m in (run["base_eval"], run["parity"], *run["train_log"], values)
               for k, v in m.items() if isinstance(v, int | float)}
    counts = run["data_metrics"]["counts"]
    numbers |= {k for m in (counts, counts["train"]) for k, v in m.items()
                if isinstance(v, int | float)}
    assert sorted(numbers - set(labels.LABELS)) == []


def test_footer_names_html_files_a_browser_opens(tmp_path):
    report = tmp_path / "run" / "report" / "html"
    report.parent.mkdir(parents=True)
    report.write_text("<!DOCTYPE html><html><body>report</body></html>", encoding="utf-8")
    artifacts = {"report": {"uri": str(report)}, "hf_model": {"uri": "/models/hf_model"},
                 "data_report": {"uri": "minio://bucket/data-report/html"}}
    lines = footer_lines(artifacts, "runs/local/edu-mlm-1", made={"report"})
    shown = dict(line.split(":", 1) for line in lines)
    page = shown["report"].strip()
    assert page == str(report.parent / "report.html")
    assert open(page, encoding="utf-8").read() == report.read_text(encoding="utf-8")
    assert report.is_file()  # the KFP artifact itself stays
    assert shown["data report"].strip().startswith("minio://bucket/data-report/html")
    assert shown["transformers model"].strip() == "/models/hf_model  (an earlier run's, not " \
                                                  "remade by this one)"
    assert lines[-1] == f"{'run directory:':20} runs/local/edu-mlm-1"
