"""The extract stage as the pipeline sees it (`components.common.stage_spec`).

Credentials never pass through a task's parameters: the pipeline maps a Kubernetes Secret to
environment variables (`kfp.kubernetes.use_secret_as_env`), which the extract library reads.
"""

from components.common.stage_spec import Pod, StageSpec, TaskSpec
from components.extract import tasks
from components.extract.arguments import INPUT_FILES, PIPELINE_FIELDS, ExtractArguments

EXTRACT = StageSpec(
    name="extract", image="dataprep", package="extract", order=10,
    doc="SQL (Hive/SQLAlchemy) or text files → a clean corpus.",
    tasks=(TaskSpec(
        "extract", tasks.run_extract_task,
        "Passages from `source_url` + `query` (or comma-separated `input_files`) → a corpus.",
        outputs={"corpus": "Dataset", "metrics": "Metrics"}, arguments=ExtractArguments,
        parameters=(*PIPELINE_FIELDS[:3], INPUT_FILES, *PIPELINE_FIELDS[3:])),),
    reads={"extract": {}},
    makes={"corpus": ("extract", "corpus"), "extract_metrics": ("extract", "metrics")},
    pod=Pod(cpu="2", memory="4G", secret="source"),
    clis={("components.extract", None): ExtractArguments},
)
