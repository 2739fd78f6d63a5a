# ruff: noqa: E501  (Chinese test text: ruff counts each CJK character as two columns)
"""bench/downstream.py's data and verdicts, without fine-tuning: the evaluation set and the
training samples it draws, the DAPT-corpus check and filter, and how a goal is judged."""

import pathlib
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))

import downstream_data as data  # noqa: E402
import downstream_report as report  # noqa: E402

BOILERPLATE = "阅读下面的文字，完成下面小题。这一句话在两道题里都有，所以不能用来找题目。"


def labelled_rows():
    rows = [{"text": f"第{i}道生物题：细胞膜的结构与功能，选出正确的一项，编号{i:03d}",
             "label": "Biology"} for i in range(12)]
    rows += [{"text": f"第{i}道历史题：秦朝统一六国以后推行的制度，编号{i:03d}",
              "label": "History"} for i in range(5)]
    rows += [{"text": BOILERPLATE + "甲文：今天的天气很好，我们去公园散步，看见湖边的柳树已经发芽，"
              "孩子们在草地上放风筝，老人们坐在长椅上聊天。", "label": "Chinese"},
             {"text": BOILERPLATE + "乙文：明天要下雨，大家记得带伞出门。气象台说这场雨会持续三天，"
              "河水可能上涨，住在低处的居民要提前做好准备。", "label": "Chinese"},
             {"text": "丙文：一段没有套话的现代文阅读材料，讲的是城市里的小吃。", "label": "Chinese"}]
    return rows


def test_the_evaluation_set_is_balanced_fixed_and_apart_from_training():
    rows = labelled_rows()
    evaluation, pool = data.split_eval(rows, 2)
    again, _ = data.split_eval(list(reversed(rows)), 2)

    assert sorted(r["text"] for r in evaluation) == sorted(r["text"] for r in again)
    assert [r["label"] for r in evaluation].count("History") == 2
    assert {label: len(group) for label, group in pool.items()} == {
        "Biology": 10, "Chinese": 1, "History": 3}
    held = {r["text"] for r in evaluation}
    assert not held & {r["text"] for group in pool.values() for r in group}


def test_a_seed_draws_nested_samples_capped_at_what_a_label_has():
    _, pool = data.split_eval(labelled_rows(), 2)
    small, large = data.sample_train(pool, 2, seed=1), data.sample_train(pool, 8, seed=1)
    other = data.sample_train(pool, 8, seed=2)

    assert {r["text"] for r in small} <= {r["text"] for r in large}
    counts = {label: [r["label"] for r in large].count(label) for label in pool}
    assert counts == {"Biology": 8, "Chinese": 1, "History": 3}
    assert data.sample_train(pool, 8, seed=1) == large
    assert [r["text"] for r in other] != [r["text"] for r in large]


def test_too_few_rows_for_the_evaluation_set_is_one_error_line():
    with pytest.raises(SystemExit) as stop:
        data.split_eval(labelled_rows(), 3)
    assert str(stop.value) == ("error: label 'Chinese' has 3 rows, so none is left for "
                               "training after --eval_per_class 3; pass --eval_per_class 1 "
                               "or less")


def test_the_corpus_filter_removes_passages_quoting_an_evaluation_question(tmp_path):
    rows = labelled_rows()
    evaluation, _ = data.split_eval(rows, 1)
    quoted = next(r["text"] for r in evaluation if r["label"] == "Biology")
    chinese = next(r["text"] for r in evaluation if r["label"] == "Chinese")
    passages = [
        "【解答】本题考查细胞。原题：" + " ".join(quoted[i:i + 5] for i in range(0, len(quoted), 5)),
        BOILERPLATE + "丁文：另一篇文章，不是评估集里的任何一道题目。",
        "与评估集无关的一段话，讲的是二次函数的图像和性质，以及它的最小值。",
        "【解答】" + chinese[len(BOILERPLATE):] + "故选C。",
    ]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(passages) + "\n", encoding="utf-8")

    summary = data.write_corpus_without_eval(str(corpus), str(tmp_path / "kept.txt"),
                                             evaluation, rows)

    assert (tmp_path / "kept.txt").read_text(encoding="utf-8").splitlines() == passages[1:3]
    assert summary["passages_with_eval_text"] == 2 and summary["passages_kept"] == 2
    found_again = data.corpus_overlap(str(tmp_path / "kept.txt"), evaluation, rows)
    assert found_again["eval_questions_found"] == 0


def size_figures(base, adapted, student):
    per_seed = {str(s): {"base": {"accuracy": b, "macro_f1": b},
                         "adapted": {"accuracy": a, "macro_f1": a},
                         "student": {"accuracy": t, "macro_f1": t}}
                for s, (b, a, t) in enumerate(zip(base, adapted, student, strict=True), 1)}
    return report.summarize_size(per_seed)


def result_with(figures, stand_ins=None, layers=12, hidden=768, ratio=3.0):
    stand_ins = stand_ins or {}
    models = {role: {"stand_in": stand_ins.get(role), "num_hidden_layers": layers,
                     "hidden_size": hidden} for role in report.ROLES}
    return {"models": models, "sizes": {"32": figures},
            "throughput": {"ratio": ratio, "ratio_min": ratio, "ratio_max": ratio, "batch": 32,
                           "sequence": 128, "device": "GPU"}}


def verdicts(result):
    return [line["verdict"] for line in report.goals(result)]


def test_goals_are_met_missed_or_too_small_to_show_by_their_interval():
    clear = size_figures([0.60, 0.62, 0.61], [0.70, 0.71, 0.72], [0.69, 0.70, 0.71])
    assert verdicts(result_with(clear)) == ["met", "met", "met"]

    noisy = size_figures([0.60, 0.70, 0.65], [0.62, 0.66, 0.70], [0.40, 0.42, 0.44])
    assert verdicts(result_with(noisy, ratio=2.0)) == ["too small to show", "missed", "missed"]


def test_stand_ins_make_every_goal_too_small_to_show_and_say_why():
    clear = size_figures([0.60, 0.62, 0.61], [0.70, 0.71, 0.72], [0.69, 0.70, 0.71])
    lines = report.goals(result_with(clear, {"base": "random-init BERT"}, layers=2, hidden=64))

    assert [line["verdict"] for line in lines] == ["too small to show", "met",
                                                   "too small to show"]
    assert lines[0]["on_the_stand_ins"] == "met"
    assert "random-init BERT" in lines[0]["reason"]
    assert "general-domain" in lines[0]["reason"]
    assert "not BERT-base" in lines[2]["reason"]


def test_a_described_model_is_named_in_the_results_and_its_goals_are_judged():
    clear = size_figures([0.60, 0.62, 0.61], [0.70, 0.71, 0.72], [0.69, 0.70, 0.71])
    result = result_with(clear)
    result["models"]["base"]["description"] = "m3e-small, a general-domain encoder"
    for model in result["models"].values():
        model.update(dir="/models/x", eval_unk_fraction=0.0)
    clear.update(train_per_class={"Biology": 32}, capped={})
    result.update(data={"description": "GAOKAO subjects"}, dapt_corpus=None, recipe_text="r",
                  notes=[])
    result["throughput"].update(precision="fp32", rounds=3, teacher_sequences_per_second=10.0,
                                student_sequences_per_second=30.0)
    result["goals"] = report.goals(result)

    assert [line["verdict"] for line in result["goals"]] == ["met", "met", "met"]
    assert "- base: `/models/x`, 12 x 768 (m3e-small, a general-domain encoder);" in \
        report.markdown(result)
