"""The generated KFP components (components/kfp/generate.py): real Python files whose body turns
the run values into the stage's arguments once and calls the task function."""

import importlib.util
import traceback
from types import SimpleNamespace

import pytest

from components.common.arguments import REQUIRED, Param
from components.common.errors import UserError
from components.common.stage_spec import Skip, StageSpec, TaskSpec
from components.distill.arguments import DistillArguments
from components.extract.arguments import ExtractArguments
from components.kfp import generate


def seen(*args, **kwargs):
    """A task function that returns what it was given."""
    return args, kwargs


def _compiled(spec, directory):
    """The rendered file, written and imported as `make generate`'s files are (KFP reads a
    component's source from its file)."""
    path = directory / f"{spec.name}.py"
    path.write_text(generate.render(spec), encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location(f"generated_{spec.name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return vars(module)


def test_a_required_parameter_after_defaulted_ones_is_put_first(tmp_path):
    """A spec may name a wired required parameter after defaulted run values; the generated
    signature lists it first (else Python refuses the file)."""
    task = TaskSpec("shard", seen, "a task", inputs={"corpus": "Dataset"},
                    arguments=ExtractArguments, parameters=("min_chars", "limit"),
                    settings=(Param("num_gpus", int, 0, "GPUs"),),
                    wired=(Param("part", dict, REQUIRED, "a loop item"),), returns=list)
    spec = StageSpec(name="extract", image="dataprep", package="extract", tasks=(task,),
                     doc="")
    source = generate.render(spec)
    assert "    corpus: Input[Dataset],\n    part: dict,\n    min_chars: int = 10," in source
    component = _compiled(spec, tmp_path)["shard"]
    args, kwargs = component.python_func(corpus="c", part={"i": 1}, limit=0)
    # One conversion: the unset optional `limit` (0) is None again, the rest as given.
    assert args[0] == "c"
    assert (args[1].min_chars, args[1].limit) == (10, None)
    assert kwargs == {"num_gpus": 0, "part": {"i": 1}}


def test_the_skip_value_hands_the_task_no_arguments(tmp_path):
    task = TaskSpec("distill", seen, "a task", arguments=DistillArguments,
                    parameters=("num_train_steps", "num_warmup_steps"),
                    skip=Skip("num_train_steps", 0, "0 skips"), returns=list)
    component = _compiled(StageSpec(name="distill", image="distiller", package="distill",
                                    tasks=(task,), doc=""), tmp_path)["distill"]
    assert component.python_func(num_train_steps=0) == ((None,), {})
    (args,), _ = component.python_func(num_train_steps=20, num_warmup_steps=2)
    assert (args.num_train_steps, args.num_warmup_steps) == (20, 2)
    assert task.run_values()[0].help == "0 skips"


def test_a_bad_run_value_fails_in_the_generated_file_before_the_task_runs(tmp_path):
    """The traceback of a committed component points into its file, and the range check of
    the declaration stops a bad run value before the task writes anything."""
    from components.kfp.generated.extract import extract

    corpus = SimpleNamespace(path=str(tmp_path / "corpus"))
    with pytest.raises(UserError) as refused:
        extract.python_func(corpus=corpus, metrics=None, min_chars=-1)
    files = [frame.filename for frame in traceback.extract_tb(refused.value.__traceback__)]
    assert files[1].endswith("components/kfp/generated/extract.py")  # [0]: this test
    assert "--min_chars" in refused.value.one_line()
    assert not (tmp_path / "corpus").exists()


def test_run_values_become_arguments_once():
    args = ExtractArguments.from_run_values(source_url="", query="SELECT 1", limit=0,
                                            min_chars=3)
    assert (args.source_url, args.query, args.limit, args.min_chars) == (None, "SELECT 1",
                                                                        None, 3)
    # The artifact's path, which only the task knows, is unset until it replaces it.
    assert args.output_dir is None
    assert args.replace(output_dir="/out").output_dir == "/out"


def test_a_step_without_summary_rows_of_its_own_gets_one_per_task():
    """The run table (`pipeline/summary.py`) reads a step it has no rows for from its spec."""
    from components.pipeline import summary

    saved = summary.ROWS.pop("distill")
    try:
        rows = summary.rows_of("distill")
        table = summary.step_rows(["distill"], {"distill": {"start": 1.0, "end": 3.5, "runs": 1,
                                                            "status": "SUCCESS"}}, {})
    finally:
        summary.ROWS["distill"] = saved
    assert rows == [("distill", "distill", "distill_metrics", [])]
    assert table == [("distill", "ran", "2.5", "")]
