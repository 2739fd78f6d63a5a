"""KFP components of the data-prep fan-out (dataprep image): split the corpus into shards, make
pretraining data for one shard (one pod each, inside `dsl.ParallelFor`), merge the shards."""


from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def split_corpus(corpus: Input[Dataset], shards: Output[Dataset], num_shards: int = 4) -> list[str]:
    """Split `corpus` into `num_shards` corpus shards; return their names for the fan-out."""
    from components.pretraining_data import split_corpus as split

    manifest = split(input_dir=corpus.path, output_dir=shards.path, num_shards=num_shards)
    return list(manifest["shards"])


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def pretraining_data_shard(
    shards: Input[Dataset],
    shard: str,
    base_model: Input[Model],
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
):
    """Masked-LM instances of one corpus shard, with the base model's vocab."""
    import os

    from components.pretraining_data import create_pretraining_data

    create_pretraining_data(
        input_file=os.path.join(shards.path, shard),
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
