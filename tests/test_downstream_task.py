"""The downstream stage's labelled rows from a real SQL engine (SQLite through extract's sources:
no mock), and the pipeline step's plain function (`tasks.run_downstream_task`): a skipped step,
a skipped student left out, the lineage it records, the student's share.

Its bad queries (no rows, a missing column, a NULL label, bytes that are not UTF-8) are rows of
the fault table, tests/test_faults.py.
"""

import hashlib
import json
import sqlite3

import pytest
from kfp import dsl

from components.common import lineage
from components.downstream import data, stats, tasks
from components.downstream.arguments import FineTuneArguments
from components.downstream.labelled import fetch_labelled_rows
from components.downstream.layout import ADAPTED, BASE, MANIFEST_KIND, STUDENT
from tests.conftest import SAMPLE_DIR
from tests.helpers_distill import skipped_student
from tests.test_downstream import LABELLED, rows, tiny_bert

QUICK = {"num_train_epochs": 1, "learning_rate": 2e-3, "train_batch_size": 16,
         "max_seq_length": 32, "max_train_examples": 32}


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("EDU_MLM_NO_PROGRESS", "1")


@pytest.fixture(scope="module")
def questions_db(tmp_path_factory):
    """data/sample/labelled.jsonl as a SQLite table questions(id, body, topic, subject)."""
    path = tmp_path_factory.mktemp("labelled_db") / "questions.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE questions (id INTEGER PRIMARY KEY, body TEXT, topic TEXT, "
                       "subject TEXT)")
    connection.executemany("INSERT INTO questions (body, topic, subject) VALUES (?, ?, ?)",
                           [(r["text"], r["topic"], r["label"]) for r in rows()])
    connection.commit()
    connection.close()
    return f"sqlite:///{path}"


def test_a_query_gives_the_rows_of_the_file(questions_db):
    from_file = data.read_examples(str(LABELLED), "text", "topic", "label")
    # 7 rows per fetch: the rows come back over several round trips.
    fetched = fetch_labelled_rows(questions_db, "SELECT subject, topic, body FROM questions "
                                  "ORDER BY id", "body", "topic", "subject", batch_size=7)
    assert (fetched.texts, fetched.pairs, fetched.labels) == (
        from_file.texts, from_file.pairs, from_file.labels)
    assert fetched.lines == list(range(1, len(from_file) + 1))
    assert fetched.source == "--query"


def test_hive_style_names_and_database_values_become_text(questions_db):
    """Hive names columns `table.column`; a BLOB of UTF-8 is text, an integer label its digits."""
    fetched = fetch_labelled_rows(
        questions_db, 'SELECT CAST(body AS BLOB) AS "questions.body", id % 3 AS '
        '"questions.label" FROM questions ORDER BY id', "body", None, "label", batch_size=50,
        flag="--eval_query")
    assert fetched.texts == [r["text"] for r in rows()]
    assert fetched.labels == [str(i % 3) for i in range(1, 121)]
    assert fetched.pairs is None and fetched.source == "--eval_query"


def _artifacts(root, base, teacher, student):
    return {"base_model": dsl.Model(uri=base), "teacher": dsl.Model(uri=teacher),
            "student": None if student is None else dsl.Model(uri=str(student)),
            "evaluation": dsl.Artifact(uri=str(root / "downstream")),
            "metrics": dsl.Metrics(uri=str(root / "metrics"))}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A base and a teacher whose manifests carry the fingerprints of the models they were
    converted from (as convert writes them), a student, and a skipped distillation's output."""
    root = tmp_path_factory.mktemp("task_models")
    found = {"base": tiny_bert(root / "base", 1, seed=0),
             "teacher": tiny_bert(root / "teacher", 2, seed=1),
             "student": tiny_bert(root / "student", 1, seed=2)}
    for name in ("base", "teacher"):
        (root / name / "manifest.json").write_text(json.dumps(
            {"kind": "transformers_model", lineage.MODEL: f"{name}-fingerprint"}))
    (root / "student" / "manifest.json").write_text(json.dumps({"kind": "distilled_model"}))
    found["skipped"] = str(skipped_student(root / "skipped"))
    return found


def test_without_labelled_rows_the_step_is_skipped_and_says_why(models, tmp_path):
    artifacts = _artifacts(tmp_path, models["base"], models["teacher"], models["skipped"])
    assert tasks.run_downstream_task(**artifacts, args=FineTuneArguments()) is None
    manifest = json.loads((tmp_path / "downstream" / "manifest.json").read_text())
    assert manifest == {"kind": MANIFEST_KIND, "skipped": True, "reason": tasks.SKIPPED_REASON}
    assert sorted(p.name for p in (tmp_path / "downstream").iterdir()) == ["manifest.json"]
    recorded = {lineage.MODEL: "teacher-fingerprint", tasks.BASE_MODEL: "base-fingerprint"}
    assert json.loads((tmp_path / "metrics").read_text()) == recorded
    assert artifacts["evaluation"].metadata == recorded


def test_a_query_fine_tunes_base_and_adapted_and_leaves_a_skipped_student_out(
        models, questions_db, tmp_path):
    artifacts = _artifacts(tmp_path, models["base"], models["teacher"], models["skipped"])
    args = FineTuneArguments(
        source_url=questions_db, query="SELECT body, subject FROM questions WHERE id <= 90 "
        "ORDER BY id", eval_query="SELECT body, subject FROM questions WHERE id > 90",
        text_column="body", label_column="subject", seeds="1", **QUICK)
    result = tasks.run_downstream_task(**artifacts, args=args)
    out = tmp_path / "downstream"
    assert result["model_names"] == [BASE, ADAPTED]
    assert result["left_out"] == {STUDENT: "distillation was skipped (distill_num_train_steps "
                                           "is 0)"}
    assert result["task"]["eval_split"] == "eval_query"
    assert result["task"]["eval_examples"] == 30
    kept = [json.loads(line) for line in (out / "train_rows.jsonl").read_text().splitlines()]
    assert kept == [{"body": r["text"], "subject": r["label"]} for r in rows()[:90]]
    manifest = json.loads((out / "manifest.json").read_text())
    train_sha = hashlib.sha256((out / "train_rows.jsonl").read_bytes()).hexdigest()
    assert manifest["labelled"]["train"] == {
        "query": args.query, "source_url": questions_db, "rows": 90,
        "file": "train_rows.jsonl", "sha256": train_sha}
    assert manifest["left_out"] == result["left_out"]
    assert set(manifest["models"]) == {BASE, ADAPTED}
    assert manifest["models"][ADAPTED][lineage.MODEL] == "teacher-fingerprint"
    logged = json.loads((tmp_path / "metrics").read_text())
    assert logged[tasks.LABELLED] == train_sha
    assert logged[tasks.LABELLED_EVAL] == manifest["labelled"]["eval"]["sha256"]
    assert logged[lineage.MODEL] == "teacher-fingerprint"
    assert logged["adapted_minus_base_accuracy_mean"] == \
        result["differences"][ADAPTED]["accuracy"]["mean"]
    assert artifacts["evaluation"].metadata["left_out"] == result["left_out"]


@pytest.mark.slow
def test_the_student_share_of_the_teacher_is_logged(models, tmp_path):
    artifacts = _artifacts(tmp_path, models["base"], models["teacher"], models["student"])
    result = tasks.run_downstream_task(**artifacts, args=FineTuneArguments(
        train_file=str(SAMPLE_DIR / "labelled.jsonl"), seeds="1,2", **QUICK))
    assert result["model_names"] == [BASE, ADAPTED, STUDENT] and result["left_out"] == {}
    share = stats.share(result["models"], STUDENT, ADAPTED)["accuracy"]
    per_seed = [result["models"][STUDENT]["per_seed"][s]["accuracy"]
                / result["models"][ADAPTED]["per_seed"][s]["accuracy"] for s in ("1", "2")]
    assert share["per_seed"] == pytest.approx(per_seed)
    logged = json.loads((tmp_path / "metrics").read_text())
    assert logged["student_share_of_adapted_accuracy_mean"] == share["mean"]
    assert logged["student_share_of_adapted_accuracy_ci95_low"] == share["ci95_low"]
    manifest = json.loads((tmp_path / "downstream" / "manifest.json").read_text())
    assert manifest["labelled"]["train"]["sha256"] == logged[tasks.LABELLED] == \
        hashlib.sha256(LABELLED.read_bytes()).hexdigest()
    assert manifest["labelled"]["eval"] is None
