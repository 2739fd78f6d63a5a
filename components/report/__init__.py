"""Reports for the KFP UI: self-contained HTML (inline PNG plots), a Markdown summary, Metrics.

Entry points: `data.write_data_report(corpus_dir, pretraining_data_dir, output_file)` and
`model.write_model_report(...)`. Importing this package is cheap; matplotlib and transformers load
when a report is written.
"""
