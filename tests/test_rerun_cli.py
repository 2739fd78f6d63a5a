"""Every command run twice with the same output path does what its `--help` says.

Users rerun their commands all the time (after a fix, with another checkpoint, in a loop over
checkpoints). Each command that writes an output path documents one of three behaviours, at that
path's flag in its `--help`, and this file runs each one twice and checks exactly that:
- "a rerun replaces it": the second run puts a new file or directory in place by a rename (a new
  inode), whole (a file left in the old directory is gone), with no temporary siblings left;
- "a rerun resumes": the trainer and the distiller find their finished state and train no step
  again (the log is the first run's, byte for byte); a state made with other settings is refused;
- "refused": only where replacing would throw away what a user cannot remake cheaply (an HDFS
  export, perhaps the only copy of a model other jobs read): one `error:` line saying why and
  what to pass, the old output untouched; the flag it names then replaces it.
Replacing is for an earlier output of the same command: a directory of other files, or another
kind of artifact, is refused and kept.
`pipeline.py run-local`, `rerun` and `hdfs-import` write a new run directory each time, never an
earlier one (tests/test_pipeline_local.py runs `run-local` twice); `submit` and `params` write
nothing.

The commands run in-process (their `main(argv)`), on tiny inputs: the sample corpus, a 1-layer
BERT of hidden size 16, one or two steps. HDFS is the WebHDFS stand-in of tests/helpers_hdfs.py
(no Hadoop can run here).
"""

import importlib
import importlib.util
import json
import logging
import os
import pathlib
import re
import shutil

import pytest
from kfp import dsl

from tests.helpers_hdfs import WebHdfsServer
from tests.helpers_report import make_corpus_and_data
from tests.rerun_cases import (
    CASES,
    PIPELINE_NEW_RUN_DIR,
    PIPELINE_WRITES_NOTHING,
    REFUSED,
    RESUMED,
    SAMPLE_DIR,
    STALE,
    TINY_BERT,
)
from tests.test_structure import DECLARATIONS, parser_of


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    """No progress bars; the root logger's handlers back after the commands' setup_logging
    (which points them at this test's captured stderr)."""
    monkeypatch.setenv("EDU_MLM_NO_PROGRESS", "1")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
def data_inputs(tmp_path_factory):
    """The sample corpus and its pretraining data (no TensorFlow), and a WebHDFS stand-in
    holding the raw corpus."""
    root = tmp_path_factory.mktemp("rerun_data")
    corpus, data, _ = make_corpus_and_data(root, SAMPLE_DIR)
    hdfs = WebHdfsServer(str(root / "hdfs")).start()
    raw = pathlib.Path(hdfs.local("/raw/corpus.txt"))
    raw.parent.mkdir(parents=True)
    raw.write_bytes((SAMPLE_DIR / "corpus.txt").read_bytes())
    yield {"corpus": str(corpus), "data": str(data), "hdfs": hdfs}
    hdfs.stop()


@pytest.fixture(scope="module")
def model_inputs(data_inputs, tmp_path_factory):
    """A tiny random BERT, trained 1 step, both converted and evaluated: every model a
    command reads."""
    from components.bert.arguments import BertInitArguments
    from components.bert.init import init_random_model
    from components.convert.arguments import ConvertArguments
    from components.convert.core import convert
    from components.evaluate.arguments import EvaluateArguments
    from components.evaluate.heldout import evaluate
    from components.train.arguments import TrainArguments
    from components.train.loop import train

    root = tmp_path_factory.mktemp("rerun_models")
    config = {**json.loads((SAMPLE_DIR / "bert_config.json").read_text()), **TINY_BERT}
    (root / "bert_config.json").write_text(json.dumps(config))
    made = {**data_inputs, "config": str(root / "bert_config.json")}
    for name in ("base", "trained", "base_hf_model", "hf_model"):
        made[name] = str(root / name)
    made["base_eval"], made["trained_eval"] = str(root / "base.json"), str(root / "trained.json")
    init_random_model(BertInitArguments(made["config"], str(SAMPLE_DIR / "vocab.txt"),
                                        made["base"]))
    train(TrainArguments(input_dir=made["data"], output_dir=made["trained"],
                         init_checkpoint=made["base"], train_batch_size=4, num_train_steps=1,
                         num_warmup_steps=0, log_every_n_steps=1))
    for model, hf_model, metrics in (("base", "base_hf_model", "base_eval"),
                                     ("trained", "hf_model", "trained_eval")):
        convert(ConvertArguments(tf_checkpoint_path=made[model], output_dir=made[hf_model],
                                 num_parity_examples=2, parity_seq_length=16))
        evaluate(EvaluateArguments(input_dir=made["data"], init_checkpoint=made[model],
                                   max_eval_steps=1, output_file=made[metrics]))
    return made


def run(cli, argv, capsys):
    """`main(argv)` of the command in this process: (exit code, its stderr's `error:` lines)."""
    module = "pipeline" if cli[0] == "pipeline.py" else cli[0]
    if importlib.util.find_spec(module).submodule_search_locations:  # a package
        module += ".__main__"
    main = importlib.import_module(module).main
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as stop:
        code = stop.code
    return code, [line for line in capsys.readouterr().err.splitlines()
                  if line.startswith("error:")]


def leftovers(path):
    """Temporary or set-aside siblings of `path` that a write left behind."""
    parent, name = os.path.split(path)
    return sorted(n for n in os.listdir(parent) if n.startswith((f"{name}.tmp-",
                                                                 f"{name}.old-")))


def flag_help(cli, flag):
    if cli[0] == "pipeline.py":
        parser = importlib.import_module("pipeline").build_parser()
        parser = next(a for a in parser._actions if a.dest == "command").choices[cli[1]]
    else:
        parser = parser_of(*cli)
    return " ".join(next(a.help for a in parser._actions if flag in a.option_strings).split())


def _params():
    model_cases = {name for name, case in CASES.items() if case.inputs == "model_inputs"}
    return [pytest.param(name, id=name, marks=[pytest.mark.slow] if name in model_cases else [])
            for name in CASES]


@pytest.mark.parametrize("name", _params())
def test_a_second_run_with_the_same_output_does_what_its_help_says(name, request, tmp_path,
                                                                     capsys):
    case = CASES[name]
    for flag in case.flags:
        assert re.search(case.behaviour, flag_help(case.cli, flag)), (name, flag)
    if case.behaviour == RESUMED:
        assert "a state made with other settings is refused" in flag_help(case.cli,
                                                                          "--checkpoint_dir")
    inputs = request.getfixturevalue(case.inputs)
    out = str(tmp_path / "out")
    argv = case.argv(inputs, out)
    assert run(case.cli, argv, capsys) == (0, [])
    outputs = case.outputs(out)
    if case.behaviour == REFUSED:
        return check_refused(case, inputs, argv, capsys)
    if case.behaviour == RESUMED:
        return check_resumed(case, argv, outputs[0], outputs[1:], capsys)
    earlier = make_stale(outputs)
    assert run(case.cli, argv, capsys) == (0, [])
    check_replaced(outputs, earlier)


def make_stale(paths):
    """Mark an earlier run's outputs (a stray file in a directory, other text in a file);
    return their inodes."""
    for path in paths:
        if os.path.isdir(path):
            pathlib.Path(path, STALE).write_text("stale")
        else:
            pathlib.Path(path).write_text("stale")
    return {path: os.stat(path).st_ino for path in paths}


def check_replaced(paths, earlier):
    """Each path is new (another inode: renamed into place), whole (nothing of the earlier
    run's is left in it), complete, and no temporary sibling is left."""
    for path in paths:
        assert os.stat(path).st_ino != earlier[path], f"{path} was written in place"
        if os.path.isdir(path):
            assert not os.path.exists(os.path.join(path, STALE)), path
            assert os.path.exists(os.path.join(path, "manifest.json")), path
        else:
            assert pathlib.Path(path).read_bytes() != b"stale", path
        assert leftovers(path) == []


def check_resumed(case, argv, out, replaced, capsys):
    """The state of the finished first run is found: no step runs again, the `replaced` files
    and the manifest are written again; another setting is refused in one line, the output
    kept."""
    log_file = next(pathlib.Path(out).glob("*_log.jsonl"))
    first_log = log_file.read_bytes()
    assert [json.loads(line)["step"] for line in first_log.splitlines()] == [1, 2]
    earlier = make_stale(replaced)
    assert run(case.cli, argv, capsys) == (0, [])
    assert log_file.read_bytes() == first_log
    assert json.loads(pathlib.Path(out, "manifest.json").read_text())["global_step"] == 2
    assert leftovers(out) == []
    check_replaced(replaced, earlier)
    code, errors = run(case.cli, [*argv, *case.other_settings], capsys)
    assert code == 2 and len(errors) == 1, errors
    assert "holds a state made with other settings" in errors[0]
    assert "a fresh --checkpoint_dir" in errors[0]
    assert os.path.exists(os.path.join(out, "manifest.json"))


def check_refused(case, inputs, argv, capsys):
    """The second run stops in one line saying why and what to pass, the first run's output
    untouched; with that flag it replaces it."""
    hdfs_path = argv[argv.index("--hdfs_path") + 1]
    target = inputs["hdfs"].local(hdfs_path)
    (pathlib.Path(target) / "kept.txt").write_text("an earlier export")
    code, errors = run(case.cli, argv, capsys)
    assert code == 2
    assert errors == [f"error: the HDFS target already exists ({hdfs_path}); pass "
                      f"{' '.join(case.replace_flag)} to replace it, or choose another path"]
    assert (pathlib.Path(target) / "kept.txt").exists()
    assert run(case.cli, [*argv, *case.replace_flag], capsys) == (0, [])
    assert not (pathlib.Path(target) / "kept.txt").exists()
    assert os.path.exists(os.path.join(target, "manifest.json"))


def test_the_pipelines_export_refuses_an_earlier_export_naming_its_run_parameter(
        data_inputs, tmp_path):
    """The pipeline's export task has no --overwrite: its refusal says what to pass instead."""
    from components.common.errors import UserError
    from components.hdfs.arguments import HdfsExportArguments
    from components.hdfs.tasks import run_export_task

    def export():
        run_export_task(dsl.Model(uri=data_inputs["corpus"]),
                        HdfsExportArguments.from_run_values(namenode_url=data_inputs["hdfs"].url),
                        hdfs_dir="/runs/r1", name="corpus")

    export()
    with pytest.raises(UserError) as refused:
        export()
    assert refused.value.one_line() == (
        "the HDFS target already exists (/runs/r1/corpus); pass another export_hdfs_dir (a run "
        "never replaces an earlier export)")


def test_every_command_has_its_rerun_case():
    """A new CLI (test_structure.DECLARATIONS) or pipeline.py command gets a case here."""
    commands = importlib.import_module("pipeline").build_parser()
    pipeline_commands = next(a for a in commands._actions if a.dest == "command").choices
    covered = {case.cli for case in CASES.values()}
    assert set(DECLARATIONS) <= covered
    assert {c for c in pipeline_commands if ("pipeline.py", c) not in covered} == \
        PIPELINE_NEW_RUN_DIR | PIPELINE_WRITES_NOTHING
    for command in PIPELINE_NEW_RUN_DIR:
        assert "each run adds its own run directory" in flag_help(("pipeline.py", command),
                                                                   "--pipeline-root")


def test_a_directory_no_run_wrote_is_refused_not_replaced(tmp_path, capsys):
    """Replacing is for an earlier output: files of the user's own (no manifest.json) stay."""
    out = tmp_path / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("a user's file")
    code, errors = run(("components.extract", None), ["--input_file", SAMPLE_DIR / "corpus.txt",
                                                      "--output_dir", out], capsys)
    assert code == 2
    assert errors == [f"error: the output directory holds files but no readable manifest.json, "
                      f"so no earlier run wrote it, and replacing it would delete them ({out}); "
                      "pass a new or empty output directory"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_an_artifact_of_another_kind_is_refused_not_replaced(data_inputs, tmp_path, capsys):
    """An output path mistyped as another stage's artifact (here the pretraining data) keeps
    that artifact."""
    out = tmp_path / "pretraining_data"
    shutil.copytree(data_inputs["data"], out)
    before = sorted(p.name for p in out.iterdir())
    code, errors = run(("components.extract", None), ["--input_file", SAMPLE_DIR / "corpus.txt",
                                                      "--output_dir", out], capsys)
    assert code == 2
    assert errors == [f"error: the output directory holds a 'pretraining_data' artifact, not a "
                      f"'corpus' like this run's, and replacing it would delete it ({out}); "
                      "pass another output directory"]
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pretraining_data"]


def test_an_output_file_that_is_a_directory_is_named_before_the_work(data_inputs, tmp_path,
                                                                       capsys):
    out = tmp_path / "data.html"
    out.mkdir()
    code, errors = run(("components.report", "data"),
                       ["data", "--corpus_dir", data_inputs["corpus"], "--pretraining_data_dir",
                        data_inputs["data"], "--output_file", out], capsys)
    assert code == 2
    assert errors == [f"error: cannot write there: --output_file should be a file, found a "
                      f"directory ({out}); pass another --output_file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.html"]
