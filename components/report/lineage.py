"""The model report's inputs must all belong to one trained model, one base model and one set
of pretraining data (`common/lineage.py`): otherwise the report would print, side by side,
numbers of different models and call them one run."""

from components.common import lineage

FIX = ("rerun the step you changed together with every step after it (`python pipeline.py "
       "rerun STEP --from RUN_DIR` does; --only reruns that step alone), or pass inputs of one run")


def check_report_inputs(pretraining_data_dir, trained_model_dir, base_hf_model_dir, hf_model_dir,
                        metrics):
    """Refuse, in one line naming it, an input made from another model or other data than the
    rest. `metrics`: {input name: its metadata} for train_metrics, data_metrics, base_eval,
    trained_eval, parity, base_parity and (when the pipeline has those steps) distill_metrics,
    downstream and serving_model, whose model is the teacher's: the trained model."""
    distilled = metrics.get("distill_metrics", {})
    trained = lineage.model_fingerprint(trained_model_dir)
    lineage.check_made_from("model", trained, {
        "train_metrics": metrics["train_metrics"].get(lineage.MODEL),
        "trained_eval": metrics["trained_eval"].get(lineage.MODEL),
        "parity": metrics["parity"].get(lineage.MODEL),
        "hf_model": lineage.recorded_fingerprint(hf_model_dir),
        "distill_metrics": distilled.get(lineage.MODEL),
        "downstream": metrics.get("downstream", {}).get(lineage.MODEL),
        "serving_model": metrics.get("serving_model", {}).get(lineage.MODEL)}, FIX)
    base = {"base_hf_model": lineage.recorded_fingerprint(base_hf_model_dir),
            "base_eval": metrics["base_eval"].get(lineage.MODEL),
            "base_parity": metrics["base_parity"].get(lineage.MODEL)}
    known = [fingerprint for fingerprint in base.values() if fingerprint is not None]
    if known:
        lineage.check_made_from("base model", known[0], base, FIX)
    data = lineage.data_fingerprint(pretraining_data_dir)
    lineage.check_made_from("pretraining data", data, {
        name: metrics.get(name, {}).get(lineage.DATA) for name in (
            "data_metrics", "train_metrics", "base_eval", "trained_eval", "distill_metrics",
            "serving_model")}, FIX)
