"""What the pipeline's report tasks run (plain functions; `spec.py` declares them and
`components/kfp/generated/data_report.py` and `report.py`, written from that, wrap them for KFP)."""

from components.report.arguments import ModelReportArguments


def run_data_report_task(corpus, pretraining_data, html):
    """Passage and instance lengths, masked/[UNK]/padding fractions, rows dropped per reason."""
    from components.report.data import write_data_report

    write_data_report(corpus.path, pretraining_data.path, html.path)


def run_model_report_task(pretraining_data, data_metrics, model, train_metrics, base_eval,
                          trained_eval, base_hf_model, hf_model, parity, base_parity, student,
                          distill_metrics, downstream, serving_model, html, summary, metrics,
                          args: ModelReportArguments):
    """Training curves, held-out before/after, fill-mask examples, parity, the distilled
    student, the downstream task (`downstream`: the downstream step's output) and the serving
    export (`serving_model`: the serve_export step's); Markdown summary."""
    from components.common.kfp_outputs import log_metrics
    from components.report.lineage import check_report_inputs
    from components.report.model import write_model_report

    check_report_inputs(pretraining_data.path, model.path, base_hf_model.path, hf_model.path, {
        "train_metrics": train_metrics.metadata, "data_metrics": data_metrics.metadata,
        "base_eval": base_eval.metadata, "trained_eval": trained_eval.metadata,
        "parity": parity.metadata, "base_parity": base_parity.metadata,
        "distill_metrics": distill_metrics.metadata, "downstream": downstream.metadata,
        "serving_model": serving_model.metadata})
    values = write_model_report(
        pretraining_data_dir=pretraining_data.path,
        data_metrics=dict(data_metrics.metadata),
        trained_model_dir=model.path,
        train_metrics=dict(train_metrics.metadata),
        base_eval=dict(base_eval.metadata),
        trained_eval=dict(trained_eval.metadata),
        base_hf_model_dir=base_hf_model.path,
        hf_model_dir=hf_model.path,
        parity=dict(parity.metadata),
        base_parity=dict(base_parity.metadata),
        html_file=html.path,
        markdown_file=summary.path,
        fill_mask_examples=args.fill_mask_examples,
        # The student's full comparison is its metrics.json (the Metrics artifact is flat).
        student_dir=student.path,
        downstream_dir=downstream.path,
        serve_export_dir=serving_model.path,
    )
    log_metrics(metrics, values)
