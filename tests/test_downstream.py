"""The downstream stage: labelled files, the split, the statistics, and real fine-tuning of tiny
BERTs (transformers BertForMaskedLM directories with the sample vocab, built here without
TensorFlow) on data/sample/labelled.jsonl through the CLI's own `main`.

Its bad inputs (missing column, one class, unseen evaluation labels, empty text, a model that is
not BERT, malformed files) are rows of the fault table, tests/test_faults.py.
"""

import json
import math
import shutil

import pytest

from components.downstream import data, stats
from components.downstream.__main__ import main
from components.downstream.arguments import DownstreamArguments
from components.downstream.labelled import load_task
from components.downstream.run import MANIFEST_KIND
from tests.conftest import SAMPLE_DIR

LABELLED = SAMPLE_DIR / "labelled.jsonl"
SUBJECTS = {"数学", "物理", "化学", "生物", "语文", "英语", "历史", "地理"}
# A quick recipe: the tiny models learn at a larger rate than BERT-base's 2e-5.
QUICK = ["--num_train_epochs", "2", "--learning_rate", "2e-3", "--train_batch_size", "16",
         "--max_seq_length", "48"]


def tiny_bert(directory, num_hidden_layers, seed):
    """A random BertForMaskedLM (hidden 32) with the sample vocab's tokenizer, saved as the
    convert and distill stages save theirs."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.BertConfig(vocab_size=1797, hidden_size=32, num_attention_heads=2,
                                     num_hidden_layers=num_hidden_layers, intermediate_size=64,
                                     max_position_embeddings=64)
    transformers.BertForMaskedLM(config).save_pretrained(directory)
    transformers.BertTokenizer(vocab=str(SAMPLE_DIR / "vocab.txt"), do_lower_case=True,
                               model_max_length=64).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("downstream_models")
    return {"teacher": tiny_bert(root / "teacher", 2, seed=0),
            "student": tiny_bert(root / "student", 1, seed=1)}


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("EDU_MLM_NO_PROGRESS", "1")


def rows():
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]


def test_the_sample_has_every_subject_and_mostly_known_characters():
    from scripts.write_labelled_sample import unk_rate

    labelled = rows()
    assert len(labelled) == 120 and {r["label"] for r in labelled} == SUBJECTS
    assert all(r["text"] and r["topic"] for r in labelled)
    rate, _ = unk_rate([r["text"] for r in labelled], str(SAMPLE_DIR / "vocab.txt"))
    assert rate < 0.02


def test_jsonl_csv_and_tsv_give_the_same_examples(tmp_path):
    import csv

    labelled = rows()[:10]
    labelled[3]["text"] = '含"引号", 和逗号的句子'  # CSV quotes it; TSV needs no quoting
    labelled[4]["text"] = "一行\u2028之内"  # a line separator JSON may hold raw
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n\n"
                                              for r in labelled), encoding="utf-8")
    with open(tmp_path / "a.csv", "w", encoding="utf-8-sig", newline="") as f:  # with a BOM
        writer = csv.writer(f)
        writer.writerow(["label", "topic", "text"])
        writer.writerows([r["label"], r["topic"], r["text"]] for r in labelled)
    (tmp_path / "a.tsv").write_text("label\ttopic\ttext\n" + "".join(
        f"{r['label']}\t{r['topic']}\t{r['text']}\n" for r in labelled), encoding="utf-8")
    read = {name: data.read_examples(str(tmp_path / name), "text", "topic", "label")
            for name in ("a.jsonl", "a.csv", "a.tsv")}
    for examples in read.values():
        assert examples.texts == [r["text"] for r in labelled]
        assert examples.pairs == [r["topic"] for r in labelled]
        assert examples.labels == [r["label"] for r in labelled]
    assert read["a.jsonl"].lines == list(range(1, 20, 2))  # blank lines skipped, lines kept
    assert read["a.csv"].lines == list(range(2, 12))


def test_the_hash_split_is_stable_and_keeps_repeated_texts_together(tmp_path):
    labelled = rows()
    labelled += [dict(r, label=r["label"]) for r in labelled[:30]]  # 30 texts twice
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in labelled),
                    encoding="utf-8")
    examples = data.read_examples(str(path), "text", None, "label")
    train, held = data.split_by_hash(examples, 0.2)
    again_train, again_held = data.split_by_hash(examples, 0.2)
    assert (train.lines, held.lines) == (again_train.lines, again_held.lines)
    assert len(train) + len(held) == len(labelled)
    assert not set(train.texts) & set(held.texts)
    assert 0.1 < len(held) / len(labelled) < 0.3


def test_statistics():
    # Two-sided 95 % quantiles of Student's t (any table).
    for dof, quantile in ((1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)):
        assert stats.t_quantile(0.95, dof) == pytest.approx(quantile, abs=5e-4)
    # Per class F1: a 2/3, b 4/5, c 1.
    assert stats.macro_f1(list("aabbc"), list("abbbc")) == pytest.approx((2 / 3 + 0.8 + 1) / 3)
    assert stats.majority_baseline(list("abbcc"), list("bcca")) == {
        "label": "b", "accuracy": 0.25, "macro_f1": pytest.approx((0.4 + 0 + 0) / 3)}
    difference = stats.paired_difference([0.7, 0.8, 0.9], [0.6, 0.6, 0.7])
    assert difference["per_seed"] == pytest.approx([0.1, 0.2, 0.2])
    half = 4.303 * math.sqrt(1 / 300) / math.sqrt(3)  # sd of (0.1, 0.2, 0.2) is sqrt(1/300)
    assert difference["ci95_low"] == pytest.approx(difference["mean"] - half, abs=1e-4)
    assert difference["ci95_high"] == pytest.approx(difference["mean"] + half, abs=1e-4)
    assert stats.paired_difference([0.7], [0.6])["ci95_low"] is None


def run_cli(models, output_dir, *extra):
    main(["--model_dir", models["teacher"], "--model_dir", models["student"],
          "--train_file", str(LABELLED), "--output_dir", str(output_dir), *QUICK, *extra])
    metrics = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    predictions = [json.loads(line) for line in
                   (output_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    return metrics, predictions


@pytest.mark.slow
def test_two_models_three_seeds_metrics_agree_with_the_predictions(models, tmp_path):
    from components.downstream.run import flat_metrics

    out = tmp_path / "out"
    metrics, predictions = run_cli(models, out, "--seeds", "1,2,3", "--max_train_examples",
                                   "64", "--max_seq_length", "32")
    task, seeds = metrics["task"], metrics["recipe"]["seeds"]
    assert seeds == [1, 2, 3] and set(task["labels"]) == SUBJECTS
    assert task["train_examples"] == 64 and task["eval_examples"] == len(predictions) > 10
    assert metrics["recipe"]["num_train_steps"] == 8  # 2 epochs of 4 batches of 16
    gold = [p["label"] for p in predictions]
    train_labels = [r["label"] for r in rows()
                    if not data.in_eval_split(r["text"], None, 0.2)][:64]
    assert metrics["majority_baseline"] == stats.majority_baseline(train_labels, gold)
    for name in ("teacher", "student"):
        model = metrics["models"][name]
        for i, seed in enumerate(seeds):
            guesses = [p["predicted"][name][i] for p in predictions]
            assert model["per_seed"][str(seed)]["accuracy"] == stats.accuracy(gold, guesses)
            assert model["per_seed"][str(seed)]["macro_f1"] == stats.macro_f1(gold, guesses)
        accuracies = [model["per_seed"][str(s)]["accuracy"] for s in seeds]
        assert (model["accuracy_mean"], model["accuracy_std"]) == stats.mean_std(accuracies)
    difference = metrics["differences"]["student"]
    assert difference["reference"] == "teacher"
    assert difference["accuracy"]["per_seed"] == pytest.approx(
        [metrics["models"]["student"]["per_seed"][str(s)]["accuracy"]
         - metrics["models"]["teacher"]["per_seed"][str(s)]["accuracy"] for s in seeds])
    assert difference["accuracy"]["ci95_low"] <= difference["accuracy"]["mean"] <= \
        difference["accuracy"]["ci95_high"]
    assert "paired by seed" in metrics["difference_method"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "downstream_evaluation"
    assert set(manifest["models"]) == {"teacher", "student"}
    assert [p.name for p in out.parent.iterdir()] == ["out"]  # no temporary sibling left
    flat = flat_metrics(metrics)
    assert flat["student_accuracy_mean"] == metrics["models"]["student"]["accuracy_mean"]
    assert flat["student_minus_teacher_accuracy_ci95_low"] == difference["accuracy"]["ci95_low"]
    assert all(isinstance(v, int | float) for v in flat.values())


def test_a_seed_gives_the_same_result_twice_and_another_seed_another(models):
    import torch

    from components.downstream import finetune

    args = DownstreamArguments(model_dir=[models["student"]], train_file=str(LABELLED),
                               output_dir="unused", num_train_epochs=1, learning_rate=2e-3,
                               train_batch_size=16, max_seq_length=48)
    train, evaluation = load_task(args)
    labels = sorted(set(train.labels))
    label_ids = {label: i for i, label in enumerate(labels)}
    tokenizer = finetune.check_model_dir(models["student"], 48)
    encoded = finetune.encode(tokenizer, train, label_ids, 48)
    encoded_eval = finetune.encode(tokenizer, evaluation, label_ids, 48)
    cpu = torch.device("cpu")
    runs = []
    for seed in (1, 1, 2):
        model, summary = finetune.fine_tune(models["student"], labels, encoded,
                                            tokenizer.pad_token_id, seed, args, cpu, "fp32",
                                            f"seed {seed}")
        logits_input = encoded_eval.batch(range(4), tokenizer.pad_token_id, cpu)
        logits_input.pop("labels")
        with torch.inference_mode():
            logits = model(**logits_input).logits
        runs.append((summary["train_loss"], logits,
                     finetune.predict(model, encoded_eval, tokenizer.pad_token_id, 8, cpu,
                                      "fp32")))
    assert runs[0][0] == runs[1][0] and runs[0][2] == runs[1][2]
    assert torch.equal(runs[0][1], runs[1][1])
    assert runs[2][0] != runs[0][0] and not torch.equal(runs[2][1], runs[0][1])


@pytest.mark.slow
def test_fine_tuning_learns_the_training_rows(models):
    """Real learning, not only bookkeeping: the training loss falls well below chance (ln 8)."""
    import torch

    from components.downstream import finetune

    args = DownstreamArguments(model_dir=[models["student"]], train_file=str(LABELLED),
                               output_dir="unused", num_train_epochs=15, learning_rate=5e-3,
                               train_batch_size=16, max_seq_length=32, warmup_ratio=0.05)
    train, _ = load_task(args)
    labels = sorted(set(train.labels))
    tokenizer = finetune.check_model_dir(models["student"], 32)
    encoded = finetune.encode(tokenizer, train, {label: i for i, label in enumerate(labels)}, 32)
    model, summary = finetune.fine_tune(models["student"], labels, encoded,
                                        tokenizer.pad_token_id, 1, args, torch.device("cpu"),
                                        "fp32", "learn")
    assert summary["train_loss"] < 0.75 * math.log(len(labels))
    predicted = finetune.predict(model, encoded, tokenizer.pad_token_id, 32,
                                 torch.device("cpu"), "fp32")
    assert stats.accuracy(encoded.label_ids, predicted) > 0.5


def test_sentence_pairs_with_an_eval_file_and_names(models, tmp_path):
    labelled = rows()
    train_file, eval_file = tmp_path / "train.csv", tmp_path / "eval.tsv"
    train_file.write_text("text,topic,label\n" + "".join(
        f"{r['text'].replace(',', '，')},{r['topic']},{r['label']}\n" for r in labelled[:90]),
        encoding="utf-8")
    eval_file.write_text("text\ttopic\tlabel\n" + "".join(
        f"{r['text']}\t{r['topic']}\t{r['label']}\n" for r in labelled[90:]), encoding="utf-8")
    out = tmp_path / "out"
    main(["--model_dir", models["student"], "--model_dir", models["teacher"],
          "--model_name", "small", "--model_name", "big", "--train_file", str(train_file),
          "--eval_file", str(eval_file), "--text_pair_column", "topic", "--seeds", "7",
          "--output_dir", str(out), *QUICK, "--num_train_epochs", "1"])
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["task"]["text_pair_column"] == "topic"
    assert metrics["task"]["eval_split"] == "eval_file"
    assert (metrics["task"]["train_examples"], metrics["task"]["eval_examples"]) == (90, 30)
    assert metrics["model_names"] == ["small", "big"] and set(metrics["models"]) == {"small", "big"}
    assert metrics["models"]["big"]["accuracy_std"] is None  # one seed: no deviation, no interval
    assert metrics["differences"]["big"]["accuracy"]["ci95_low"] is None


def test_pairs_are_encoded_as_two_segments(models):
    from components.downstream import finetune

    examples = data.Examples(["二次函数的性质"], ["数学"], ["数学"], [1], "x")
    tokenizer = finetune.check_model_dir(models["student"], 48)
    encoded = finetune.encode(tokenizer, examples, {"数学": 0}, 48)
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids[0])
    assert tokens == ["[CLS]", *"二次函数的性质", "[SEP]", "数", "学", "[SEP]"]
    assert encoded.token_type_ids[0] == [0] * 9 + [1] * 3


def test_a_rerun_replaces_the_output_whole(models, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    # An earlier run's output (a directory without a manifest is refused, not replaced).
    (out / "manifest.json").write_text(json.dumps({"kind": MANIFEST_KIND}))
    (out / "stale.txt").write_text("from an earlier run")
    run_cli(models, out, "--seeds", "1", "--max_train_examples", "32", "--num_train_epochs", "1")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "metrics.json",
                                                     "predictions.jsonl"]
    shutil.rmtree(out)


def test_a_low_resource_cut_keeps_the_first_rows_of_each_label():
    args = DownstreamArguments(model_dir=["unused"], train_file=str(LABELLED),
                               output_dir="unused", max_train_examples_per_class=3)
    train, evaluation = load_task(args)
    assert {label: train.labels.count(label) for label in SUBJECTS} == dict.fromkeys(SUBJECTS, 3)
    held = [r for r in rows() if not data.in_eval_split(r["text"], None, 0.2)]
    firsts = [next(r["text"] for r in held if r["label"] == label) for label in SUBJECTS]
    assert set(firsts) <= set(train.texts)
    assert len(evaluation) == 120 - len(held)  # the evaluation rows stay whole


def test_bf16_autocast_runs_when_asked_for(models, tmp_path):
    """The GPU's precision path (bf16 autocast); on the CPU it is taken only when asked for
    (fp32 is the CPU's default)."""
    out = tmp_path / "out"
    metrics, predictions = run_cli(models, out, "--seeds", "1", "--max_train_examples", "32",
                                   "--num_train_epochs", "1", "--precision", "bf16")
    assert metrics["recipe"]["precision"] == "bf16"
    assert len(predictions) == metrics["task"]["eval_examples"]
