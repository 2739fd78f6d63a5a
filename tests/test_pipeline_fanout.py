"""The pipeline's data-prep fan-out: every pod gets work, and the merged parts are exactly what
one process writes."""

import os

import pytest

from components.common.errors import UserError
from components.extract.arguments import ExtractArguments
from components.extract.corpus import extract_corpus
from components.pretraining_data.arguments import PretrainingDataArguments
from components.pretraining_data.create import create_pretraining_data
from components.pretraining_data.fanout import plan_fanout
from components.pretraining_data.merge import merge_pretraining_data


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, sample_dir):
    path = tmp_path_factory.mktemp("fanout") / "corpus"
    extract_corpus(ExtractArguments(
            output_dir=str(path), input_file=[str(sample_dir / "corpus.txt")]))
    return path


def test_plan_gives_every_part_work_and_caps_tiny_corpora(corpus):
    plan = plan_fanout(str(corpus), 3)
    assert [p["shard_index"] for p in plan] == [0, 1, 2]
    assert {p["num_shards"] for p in plan} == {3}
    size = sum(os.path.getsize(corpus / f) for f in os.listdir(corpus) if f.startswith("part-"))
    # three byte ranges (or a few more): no part is empty
    assert size / (plan[0]["shard_size_mb"] * (1 << 20)) >= 3
    assert len(plan_fanout(str(corpus), 10_000)) == size // 4096
    with pytest.raises(UserError):
        plan_fanout(str(corpus), 0)


def test_merged_parts_equal_one_process(corpus, sample_dir, tmp_path):
    plan = plan_fanout(str(corpus), 3)
    common = dict(vocab_file=str(sample_dir / "vocab.txt"), dupe_factor=1,
                  heldout_fraction=0.1, num_workers=1, shard_size_mb=plan[0]["shard_size_mb"])
    parts = []
    for part in plan:
        out = tmp_path / f"part{part['shard_index']}"
        manifest = create_pretraining_data(PretrainingDataArguments(
                str(corpus), output_dir=str(out),
                                           shard_index=part["shard_index"],
                                           num_shards=part["num_shards"], **common))
        assert manifest["train_instances"] > 0
        parts.append(str(out))
    merged = merge_pretraining_data(parts, str(tmp_path / "merged"))
    single = create_pretraining_data(PretrainingDataArguments(
            str(corpus), output_dir=str(tmp_path / "single"), **common))
    assert merged["train_instances"] == single["train_instances"]
    for split in ("train", "heldout"):
        assert _records(tmp_path / "merged", split) == _records(tmp_path / "single", split)


def _records(directory, split):
    """The concatenated bytes of a split's TFRecord files, in file order."""
    files = sorted(f for f in os.listdir(directory) if f.startswith(f"{split}-"))
    return b"".join((directory / f).read_bytes() for f in files)


def test_the_compat_single_task_writes_what_the_fan_out_merges(corpus, sample_dir, tmp_path):
    """Backends without `dsl.Collected` run `pretraining_data_whole` instead of the fan-out: the
    same records. The artifacts are plain objects with the `path` that KFP's runtime gives."""
    from types import SimpleNamespace

    from components.kfp.generated.pretraining_data import pretraining_data_whole

    base_model = tmp_path / "base"
    base_model.mkdir()
    (base_model / "vocab.txt").write_bytes((sample_dir / "vocab.txt").read_bytes())
    logged = {}
    metrics = SimpleNamespace(path=str(tmp_path / "metrics" / "metrics"), metadata={},
                              log_metric=logged.__setitem__)
    pretraining_data_whole.python_func(
        corpus=SimpleNamespace(path=str(corpus)), base_model=SimpleNamespace(path=str(base_model)),
        pretraining_data=SimpleNamespace(path=str(tmp_path / "whole")), metrics=metrics,
        num_shards=3, dupe_factor=1, heldout_fraction=0.1)
    plan = plan_fanout(str(corpus), 3)
    parts = []
    for part in plan:
        parts.append(str(tmp_path / f"part{part['shard_index']}"))
        create_pretraining_data(PretrainingDataArguments(
                str(corpus), output_dir=parts[-1], vocab_file=str(
            base_model / "vocab.txt"), dupe_factor=1, heldout_fraction=0.1,
            shard_size_mb=part["shard_size_mb"], shard_index=part["shard_index"],
            num_shards=part["num_shards"]))
    merged = merge_pretraining_data(parts, str(tmp_path / "merged"))
    assert logged["train_instances"] == merged["train_instances"] > 0
    for split in ("train", "heldout"):
        assert _records(tmp_path / "whole", split) == _records(tmp_path / "merged", split)
