"""KFP component: SQL (Hive/SQLAlchemy) or text files → clean corpus (dataprep image).

Credentials never pass through here: the pipeline maps a Kubernetes Secret to environment
variables (`kfp.kubernetes.use_secret_as_env`), which the extract library reads.
"""

from kfp.dsl import Dataset, Metrics

from components.common.kfp_component import component
from components.extract import tasks
from components.extract.arguments import TASK_PARAMETERS

extract = component(
    "extract", tasks.run_extract_task, "extract", TASK_PARAMETERS,
    outputs={"corpus": Dataset, "metrics": Metrics},
    doc="Passages from `source_url` + `query` (or comma-separated `input_files`) → a corpus.")
