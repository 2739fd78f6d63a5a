"""What the pipeline's evaluate tasks run (a plain function; `spec.py` declares it and
`components/kfp/generated/evaluate.py`, written from that, wraps it for KFP)."""

from components.evaluate.arguments import EvaluateArguments


def run_evaluate_task(pretraining_data, model, metrics, args: EvaluateArguments):
    """Evaluate `model` on the held-out split of `pretraining_data`."""
    from components.common import lineage
    from components.common.kfp_outputs import log_metrics
    from components.evaluate.heldout import evaluate

    log_metrics(metrics, evaluate(args.replace(input_dir=pretraining_data.path,
                                               init_checkpoint=model.path)),
                {lineage.MODEL: lineage.model_fingerprint(model.path),
                 lineage.DATA: lineage.data_fingerprint(pretraining_data.path)})
