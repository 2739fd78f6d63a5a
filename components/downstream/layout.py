"""The downstream stage's output directory, as its readers (the report) name it, without torch.

`metrics.json` and `predictions.jsonl` (`run.py`), the rows a query returned (`labelled.py`),
and `manifest.json` of kind `MANIFEST_KIND`; a skipped pipeline step (`tasks.py`) writes only a
manifest with `"skipped": true` and its reason. The pipeline step names its models as below.
"""

MANIFEST_KIND = "downstream_evaluation"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"
# The file a query's rows are kept in, by the flag of the query.
QUERY_ROWS_FILES = {"--query": "train_rows.jsonl", "--eval_query": "eval_rows.jsonl"}

# The pipeline step's models: the base is the reference, `adapted` the trained (domain-adapted)
# model converted, `student` the distilled one.
BASE, ADAPTED, STUDENT = "base", "adapted", "student"
