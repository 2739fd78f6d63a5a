"""KFP components: the HTML/Markdown/Metrics artifacts the KFP UI renders for a run.

`data_report` runs right after data prep (dataprep image), so the data statistics are visible
while the trainer runs; `report` runs last (converter image: it loads both transformers models
for the fill-mask examples).
"""

from kfp.dsl import HTML, Dataset, Markdown, Metrics, Model

from components.common.kfp_component import component
from components.report import tasks
from components.report.arguments import PIPELINE_FIELDS, ModelReportArguments

data_report = component(
    "data_report", tasks.run_data_report_task, "data_report", [],
    inputs={"corpus": Dataset, "pretraining_data": Dataset}, outputs={"html": HTML},
    doc="Passage and instance lengths, masked/[UNK]/padding fractions, rows dropped per reason.")
report = component(
    "report", tasks.run_model_report_task, "report", ModelReportArguments.params(PIPELINE_FIELDS),
    inputs={"pretraining_data": Dataset, "data_metrics": Metrics, "model": Model,
            "train_metrics": Metrics, "base_eval": Metrics, "trained_eval": Metrics,
            "base_hf_model": Model, "hf_model": Model, "parity": Metrics,
            "base_parity": Metrics, "student": Model, "distill_metrics": Metrics},
    outputs={"html": HTML, "summary": Markdown, "metrics": Metrics},
    doc="Training curves, held-out before/after, fill-mask examples, parity, the distilled "
        "student; Markdown summary.")
