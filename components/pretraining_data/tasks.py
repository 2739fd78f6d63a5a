"""What the pipeline's data-prep tasks run (plain functions; `spec.py` declares them and
`components/kfp/generated/pretraining_data.py`, written from that, wraps them for KFP)."""

from components.pretraining_data.arguments import PretrainingDataArguments


def _with_paths(args, corpus, base_model, output, **changes):
    import os

    return args.replace(input_file=[corpus.path], output_dir=output.path,
                        vocab_file=os.path.join(base_model.path, "vocab.txt"), **changes)


def run_split_corpus(corpus, num_shards):
    """One {"shard_index", "num_shards", "shard_size_mb"} per pod of the fan-out."""
    from components.pretraining_data.fanout import plan_fanout

    return plan_fanout(corpus_dir=corpus.path, num_shards=num_shards)


def run_shard_task(corpus, base_model, pretraining_data, args: PretrainingDataArguments, part):
    """Masked-LM instances of one `part` (from split_corpus) of the corpus."""
    from components.pretraining_data.create import create_pretraining_data

    # JSON numbers: integers may arrive as floats.
    create_pretraining_data(_with_paths(
        args, corpus, base_model, pretraining_data, shard_index=int(part["shard_index"]),
        num_shards=int(part["num_shards"]), shard_size_mb=float(part["shard_size_mb"])))


def run_merge_task(shards, pretraining_data, metrics):
    """One pretraining-data artifact (the trainer's input) from the per-shard outputs."""
    from components.common import lineage
    from components.common.kfp_outputs import log_metrics
    from components.pretraining_data.merge import merge_pretraining_data

    log_metrics(metrics, merge_pretraining_data([shard.path for shard in shards],
                                                pretraining_data.path),
                {lineage.DATA: lineage.data_fingerprint(pretraining_data.path)})


def run_whole_task(corpus, base_model, pretraining_data, metrics, args: PretrainingDataArguments,
                   num_shards):
    """The fan-out's records in one pod: the shard plan of `num_shards` pods, all of it processed
    here (what the merge of the parts equals)."""
    from components.common import lineage
    from components.common.kfp_outputs import log_metrics
    from components.pretraining_data.create import create_pretraining_data
    from components.pretraining_data.fanout import plan_fanout

    plan = plan_fanout(corpus_dir=corpus.path, num_shards=num_shards)
    log_metrics(metrics, create_pretraining_data(_with_paths(
        args, corpus, base_model, pretraining_data, shard_size_mb=plan[0]["shard_size_mb"])),
        {lineage.DATA: lineage.data_fingerprint(pretraining_data.path)})
