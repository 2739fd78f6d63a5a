"""KFP components of the pretraining_data stage, written by `make generate` from
components/pretraining_data/spec.py and the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def split_corpus(
    corpus: Input[Dataset],
    num_shards: int = 4,
) -> list:
    """Cut `corpus` into `num_shards` parts (fewer for a tiny corpus), one per pod."""
    from components.common.errors import recording_step_error
    from components.pretraining_data.tasks import run_split_corpus

    with recording_step_error():
        return run_split_corpus(
            corpus,
            num_shards=num_shards,
        )


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def pretraining_data_shard(
    corpus: Input[Dataset],
    base_model: Input[Model],
    pretraining_data: Output[Dataset],
    part: dict,
    max_seq_length: int = 128,
    max_predictions_per_seq: int = 20,
    masked_lm_prob: float = 0.15,
    random_seed: int = 123456,
    do_whole_word_mask: bool = True,
    dupe_factor: int = 5,
    short_seq_prob: float = 0.1,
    heldout_fraction: float = 0.01,
    segmenter: str = "jieba",
    pack: bool = True,
    max_bad_fraction: float = 0.01,
):
    """Masked-LM instances of one `part` of the corpus, with the base model's vocab."""
    from components.common.errors import recording_step_error
    from components.pretraining_data.arguments import PretrainingDataArguments
    from components.pretraining_data.tasks import run_shard_task

    with recording_step_error():
        args = PretrainingDataArguments.from_run_values(
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
        )
        run_shard_task(
            corpus,
            base_model,
            pretraining_data,
            args,
            part=part,
        )


@dsl.component(base_image=image("pretraining_data"), install_kfp_package=False)
def merge_pretraining_data(
    shards: Input[list[Dataset]],
    pretraining_data: Output[Dataset],
    metrics: Output[Metrics],
):
    """One pretraining-data artifact (the trainer's input) from the per-shard outputs."""
    from components.common.errors import recording_step_error
    from components.pretraining_data.tasks import run_merge_task

    with recording_step_error():
        run_merge_task(
            shards,
            pretraining_data,
            metrics,
        )


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
    pack: bool = True,
    max_bad_fraction: float = 0.01,
):
    """The fan-out's records in one pod, for KFP backends without `dsl.Collected`."""
    from components.common.errors import recording_step_error
    from components.pretraining_data.arguments import PretrainingDataArguments
    from components.pretraining_data.tasks import run_whole_task

    with recording_step_error():
        args = PretrainingDataArguments.from_run_values(
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
        )
        run_whole_task(
            corpus,
            base_model,
            pretraining_data,
            metrics,
            args,
            num_shards=num_shards,
        )
