"""What the pipeline's convert tasks run (a plain function; `spec.py` declares it and
`components/kfp/generated/convert.py`, written from that, wraps it for KFP)."""

from components.convert.arguments import ConvertArguments


def run_convert_task(model, pretraining_data, hf_model, parity, args: ConvertArguments):
    """Convert `model` to a transformers `save_pretrained` directory; check TF↔torch parity on
    held-out instances of `pretraining_data`."""
    from components.common import lineage
    from components.common.kfp_outputs import log_metrics
    from components.convert.core import convert

    values = convert(args.replace(tf_checkpoint_path=model.path, output_dir=hf_model.path,
                                  parity_data=pretraining_data.path))
    made_from = {lineage.MODEL: lineage.model_fingerprint(model.path)}
    hf_model.metadata.update(made_from)
    log_metrics(parity, values, made_from)
