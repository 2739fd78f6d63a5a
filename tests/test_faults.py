"""Fault suite (issue 8): every stage's CLI fed each bad input of the issues, one case per row
of the fault table (`tests/fault_table.py`).

Each case must end with exit code 2 (UserError), exactly one `error:` line on stderr that names
the bad input (file, flag or parameter), no traceback, and no output directory nor temporary
sibling (`out.tmp-*`, `out.old-*`) left behind.

Every stage but pretraining_data runs its `__main__` in this process with runpy: TensorFlow and
torch are imported once instead of once per case (about 10 s each here), and a data-prep case
takes milliseconds instead of the second a fresh interpreter takes. pretraining_data runs as a
real subprocess (`python -m components.pretraining_data`): its worker pool forks, which a process
holding TensorFlow's and torch's threads should not do. `test_stage_cli_subprocess` (slow) runs
one case of each of the other stages as a real subprocess too.
"""

import pytest

from components.common.errors import UserError
from tests.fault_table import CASES
from tests.helpers_faults import (
    REPO_ROOT,
    BadInputs,
    assert_one_line_user_error,
    no_leftovers,
    run_stage_cli,
    run_stage_in_process,
)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    return BadInputs(tmp_path_factory.mktemp("bad_inputs"))


def _run_case(case, bad_inputs, tmp_path, capfd, monkeypatch, in_process):
    values = {"out": str(tmp_path / "out")}

    class Values(dict):
        def __missing__(self, key):
            return bad_inputs[key]

    args = [arg.format_map(Values(values)) for arg in case.args]
    with no_leftovers(tmp_path, "out"), no_leftovers(bad_inputs.root / "a_file", "out"):
        if in_process:
            code, stderr = run_stage_in_process(case.stage, args, capfd, monkeypatch)
        else:
            code, stderr = run_stage_cli(case.stage, args)
    return assert_one_line_user_error(code, stderr, case.must_name)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, bad_inputs, tmp_path, capfd,
                                                          monkeypatch):
    _run_case(case, bad_inputs, tmp_path, capfd, monkeypatch, case.in_process)


SUBPROCESS_SAMPLES = [c for c in CASES if c.id in (
    "hdfs-export_unreachable_namenode", "extract-invalid_utf8", "bert.init-vocab_size_mismatch",
    "bert.init-unwritable_output", "train-warmup_over_train_steps",
    "evaluate-checkpoint_of_another_config", "convert-vocab_size_mismatch",
    "distill-data_of_another_vocab")]


@pytest.mark.slow
@pytest.mark.parametrize("case", SUBPROCESS_SAMPLES, ids=[c.id for c in SUBPROCESS_SAMPLES])
def test_stage_cli_subprocess(case, bad_inputs, tmp_path, capfd, monkeypatch):
    _run_case(case, bad_inputs, tmp_path, capfd, monkeypatch, in_process=False)



def _kfp_failure_log(pipeline_func, arguments, tmp_path, capfd, monkeypatch):
    from kfp import local

    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))
    monkeypatch.setenv("EDU_MLM_NO_PROGRESS", "1")
    local.init(runner=local.SubprocessRunner(use_venv=False),
               pipeline_root=str(tmp_path / "kfp_root"), raise_on_error=True)
    capfd.readouterr()
    with pytest.raises(RuntimeError, match="FAILURE"):
        pipeline_func(**arguments)
    captured = capfd.readouterr()
    return captured.out + captured.err


def test_kfp_step_fails_with_the_one_line(bad_inputs, tmp_path, capfd, monkeypatch):
    """A UserError in a KFP step (kfp.local, the components' own code) ends its log as one line."""
    from kfp import dsl

    from components.common.artifacts import read_manifest
    from components.extract.arguments import ExtractArguments
    from components.extract.corpus import extract_corpus
    from components.kfp.generated.extract import extract
    from components.kfp.generated.pretraining_data import split_corpus

    @dsl.pipeline(name="fault-extract")
    def extract_empty(input_files: str):
        extract(input_files=input_files)

    @dsl.pipeline(name="fault-split")
    def split_half_written(corpus_uri: str):
        corpus = dsl.importer(artifact_uri=corpus_uri, artifact_class=dsl.Dataset)
        split_corpus(corpus=corpus.output)

    with pytest.raises(UserError) as empty:
        extract_corpus(ExtractArguments(
                output_dir=str(tmp_path / "unused"), input_file=[str(bad_inputs.empty)]))
    with pytest.raises(UserError) as half:
        read_manifest(str(bad_inputs.no_manifest), kind="corpus")
    for pipeline_func, arguments, error in (
            (extract_empty, {"input_files": str(bad_inputs.empty)}, empty.value),
            (split_half_written, {"corpus_uri": str(bad_inputs.no_manifest)}, half.value)):
        log = _kfp_failure_log(pipeline_func, arguments, tmp_path, capfd, monkeypatch)
        assert f"UserError: {error.one_line()}" in log, log[-3000:]
