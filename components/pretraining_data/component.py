"""KFP components of the data-prep fan-out (dataprep image): plan the corpus's shards, make the
pretraining data of one shard (one pod each, inside `dsl.ParallelFor`), merge the shards."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def split_corpus(corpus: Input[Dataset], num_shards: int = 4) -> list:
    """Cut `corpus` into `num_shards` parts (fewer for a tiny corpus), one per pod; returns one
    {"shard_index", "num_shards", "shard_size_mb"} per part for the fan-out to iterate over."""
    from components.pretraining_data.fanout import plan_fanout

    return plan_fanout(corpus_dir=corpus.path, num_shards=num_shards)


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def pretraining_data_shard(
    corpus: Input[Dataset],
    base_model: Input[Model],
    part: dict,
    pretraining_data: Output[Dataset],
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
    max_bad_fraction: float = 0.01,
):
    """Masked-LM instances of one `part` (from split_corpus) of the corpus, with the base
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
        max_bad_fraction=max_bad_fraction,
        # JSON numbers: integers may arrive as floats
        shard_index=int(part["shard_index"]),
        num_shards=int(part["num_shards"]),
        shard_size_mb=float(part["shard_size_mb"]),
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


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def pretraining_data_whole(
    corpus: Input[Dataset],
    base_model: Input[Model],
    pretraining_data: Output[Dataset],
    metrics: Output[Metrics],
    num_shards: int = 4,
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
    max_bad_fraction: float = 0.01,
):
    """The fan-out's records in one pod, for KFP backends without `dsl.Collected`: the shard
    plan of `num_shards` pods, all of it processed here (what the merge of the parts equals)."""
    import os

    from components.common.kfp_outputs import log_metrics
    from components.pretraining_data import create_pretraining_data
    from components.pretraining_data.fanout import plan_fanout

    plan = plan_fanout(corpus_dir=corpus.path, num_shards=num_shards)
    manifest = create_pretraining_data(
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
        max_bad_fraction=max_bad_fraction,
        shard_size_mb=plan[0]["shard_size_mb"],
    )
    log_metrics(metrics, manifest)
