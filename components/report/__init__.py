"""Reports for the KFP UI: self-contained HTML (inline PNG plots), a Markdown summary, Metrics.

Entry points: `write_data_report(corpus_dir, pretraining_data_dir, output_file)` and
`write_model_report(...)`. Importing this package is cheap; matplotlib and transformers load
when a report is written.
"""


def write_data_report(corpus_dir, pretraining_data_dir, output_file):
    """See `components.report.data.write_data_report`."""
    from components.report.data import write_data_report as run

    return run(corpus_dir, pretraining_data_dir, output_file)


def write_model_report(**kwargs):
    """See `components.report.model.write_model_report`."""
    from components.report.model import write_model_report as run

    return run(**kwargs)


__all__ = ["write_data_report", "write_model_report"]
