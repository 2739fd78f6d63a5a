"""The report stages as the pipeline sees them (`components.common.stage_spec`): the HTML,
Markdown and Metrics artifacts the KFP UI renders for a run.

`data_report` runs right after data prep (dataprep image), so the data statistics are visible
while the trainer runs; `report` runs last (converter image: it loads both transformers models
for the fill-mask examples).
"""

from components.common.stage_spec import Pod, StageSpec, TaskSpec
from components.report import tasks
from components.report.arguments import (
    PIPELINE_FIELDS,
    DataReportArguments,
    ModelReportArguments,
)

DATA_REPORT = StageSpec(
    name="data_report", image="dataprep", package="report", order=30,
    doc="The data's statistics, while the trainer runs.",
    tasks=(TaskSpec(
        "data_report", tasks.run_data_report_task,
        "Passage and instance lengths, masked/[UNK]/padding fractions, rows dropped per reason.",
        inputs={"corpus": "Dataset", "pretraining_data": "Dataset"}, outputs={"html": "HTML"}),),
    reads={"data_report": {"corpus": "corpus", "pretraining_data": "pretraining_data"}},
    makes={"data_report": ("data_report", "html")},
    pod=Pod(cpu="1", memory="2G"),
    clis={("components.report", "data"): DataReportArguments},
)

# What the run's report reads: each input is the run's artifact of the same name.
REPORT_INPUTS = {
    "pretraining_data": "Dataset", "data_metrics": "Metrics", "model": "Model",
    "train_metrics": "Metrics", "base_eval": "Metrics", "trained_eval": "Metrics",
    "base_hf_model": "Model", "hf_model": "Model", "parity": "Metrics", "base_parity": "Metrics",
    "student": "Model", "distill_metrics": "Metrics", "downstream": "Artifact",
    "serving_model": "Model",
}

REPORT = StageSpec(
    name="report", image="converter", package="report", order=80,
    doc="The run's report: training curves, held-out before/after, fill-mask, parity, student, "
        "downstream task, serving export.",
    tasks=(TaskSpec(
        "report", tasks.run_model_report_task,
        "Training curves, held-out before/after, fill-mask examples, parity, the distilled "
        "student, the downstream task, the serving export; Markdown summary.",
        inputs=REPORT_INPUTS, outputs={"html": "HTML", "summary": "Markdown", "metrics": "Metrics"},
        arguments=ModelReportArguments, parameters=PIPELINE_FIELDS),),
    reads={"report": {name: name for name in REPORT_INPUTS}},
    makes={"report": ("report", "html"), "summary": ("report", "summary"),
           "report_metrics": ("report", "metrics")},
    pod=Pod(cpu="2", memory="16G"),
    clis={("components.report", "model"): ModelReportArguments},
)
