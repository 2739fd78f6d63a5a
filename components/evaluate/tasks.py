"""What the pipeline's evaluate task runs (plain functions; `component.py` wraps them for KFP)."""

from components.evaluate.arguments import EvaluateArguments


def run_evaluate_task(pretraining_data, model, metrics, **parameters):
    """Evaluate `model` on the held-out split of `pretraining_data`."""
    from components.common import lineage
    from components.common.kfp_outputs import log_metrics
    from components.evaluate.heldout import evaluate

    log_metrics(metrics, evaluate(EvaluateArguments(
        input_dir=pretraining_data.path, init_checkpoint=model.path, **parameters)),
        {lineage.MODEL: lineage.model_fingerprint(model.path),
         lineage.DATA: lineage.data_fingerprint(pretraining_data.path)})
