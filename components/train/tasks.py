"""What the pipeline's train task runs (a plain function; `spec.py` declares it and
`components/kfp/generated/train.py`, written from that, wraps it for KFP)."""

from components.train.arguments import TrainArguments


def run_train_task(pretraining_data, base_model, model, metrics, args: TrainArguments,
                   num_gpus=0, checkpoint_root=""):
    """Train from `base_model` on the train split of `pretraining_data` into `model`; `args`
    holds the run values, the paths and the data's sequence lengths are set here."""
    import os

    from components.common import lineage
    from components.common.artifacts import read_manifest
    from components.common.errors import exit_on_user_error
    from components.common.kfp_outputs import log_metrics
    from components.common.run_state import check_state_dir_writable, checkpoint_dir_for

    checkpoint_dir = checkpoint_dir_for(checkpoint_root, model.uri) if checkpoint_root else None
    if checkpoint_dir:  # one line, not a traceback; before TensorFlow loads
        exit_on_user_error(check_state_dir_writable)(checkpoint_dir)
    from components.train.loop import train

    data = read_manifest(pretraining_data.path, kind="pretraining_data")
    summary = train(args.replace(
        input_dir=pretraining_data.path, output_dir=model.path,
        bert_config_file=os.path.join(base_model.path, "bert_config.json"),
        init_checkpoint=base_model.path, max_seq_length=data["max_seq_length"],
        max_predictions_per_seq=data["max_predictions_per_seq"], num_gpus=num_gpus or None,
        checkpoint_dir=checkpoint_dir))
    made_from = {lineage.MODEL: lineage.model_fingerprint(model.path),
                 lineage.DATA: lineage.data_fingerprint(pretraining_data.path)}
    model.metadata.update(made_from)
    log_metrics(metrics, summary, made_from)
