"""KFP components of the data-prep fan-out (dataprep image): plan the corpus's shards, make the
pretraining data of one shard (one pod each, inside `dsl.ParallelFor`), merge the shards."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def split_corpus(corpus: Input[Dataset], num_shards: int = 4) -> NamedTuple(
        "Fanout", [("shard_indexes", list), ("num_shards", int), ("shard_size_mb", float)]):
    """Cut `corpus` into `num_shards` parts (fewer for a tiny corpus), one per pod."""
    from components.pipeline.fanout import plan_fanout

    plan = plan_fanout(corpus_dir=corpus.path, num_shards=num_shards)
    return (plan["shard_indexes"], plan["num_shards"], plan["shard_size_mb"])


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def pretraining_data_shard(
    corpus: Input[Dataset],
    base_model: Input[Model],
    pretraining_data: Output[Dataset],
    shard_index: int = 0,
    num_shards: int = 1,
    shard_size_mb: float = 0.5,
    max_seq_length: int = 128,
    max_predictions_per_seq: int = 20,
    masked_lm_prob: float = 0.15,
    random_seed: int = 123456,
    do_whole_word_mask: bool = True,
    dupe_factor: int = 5,
    short_seq_prob: float = 0.1,
    heldout_fraction: float = 0.01,
    segmenter: str = "jieba",
    pack: bool = False,
):
    """Masked-LM instances of part `shard_index` of `num_shards` of the corpus, with the base
    model's vocab."""
    import os

    from components.pretraining_data import create_pretraining_data

    create_pretraining_data(
        input_file=corpus.path,
        output_dir=pretraining_data.path,
        vocab_file=os.path.join(base_model.path, "vocab.txt"),
        max_seq_length=max_seq_length,
        max_predictions_per_seq=max_predictions_per_seq,
        masked_lm_prob=masked_lm_prob,
        random_seed=random_seed,
        do_whole_word_mask=do_whole_word_mask,
        dupe_factor=dupe_factor,
        short_seq_prob=short_seq_prob,
        heldout_fraction=heldout_fraction,
        segmenter=segmenter,
        pack=pack,
        shard_index=shard_index,
        num_shards=num_shards,
        shard_size_mb=shard_size_mb,
    )


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def merge_pretraining_data(
    shards: Input[list[Dataset]],
    pretraining_data: Output[Dataset],
    metrics: Output[Metrics],
):
    """One pretraining-data artifact (the trainer's input) from the per-shard outputs."""
    from components.common.kfp_outputs import log_metrics
    from components.pretraining_data import merge_pretraining_data as merge

    manifest = merge(input_dirs=[shard.path for shard in shards], output_dir=pretraining_data.path)
    log_metrics(metrics, manifest)
