"""The container image each pipeline stage runs in: one place for every component and the CLI.

Four images (ARCHITECTURE.md, "The stages"): `dataprep` (CPU, no TensorFlow), `trainer` (GPU,
TensorFlow), `converter` (TensorFlow CPU + torch CPU + transformers) and `distiller` (GPU, torch +
transformers, no TensorFlow). Names are
`REGISTRY/edu-mlm-<image>:TAG`; `EDU_MLM_REGISTRY` and `EDU_MLM_TAG` set the defaults the
components are declared with, and `pipeline.py compile --registry R --tag T` overrides them per
compile.
"""

import os

DEFAULT_REGISTRY = "ghcr.io/edu-mlm"
DEFAULT_TAG = "0.1.0"

STAGE_IMAGE = {
    "extract": "dataprep",
    "pretraining_data": "dataprep",
    "hdfs": "dataprep",
    "data_report": "dataprep",
    "bert": "trainer",
    "train": "trainer",
    "evaluate": "trainer",
    "convert": "converter",
    "distill": "distiller",
    "report": "converter",
}


def image(stage, registry=None, tag=None):
    """The image reference for `stage`, e.g. `ghcr.io/edu-mlm/edu-mlm-trainer:0.1.0`."""
    registry = (registry or os.environ.get("EDU_MLM_REGISTRY") or DEFAULT_REGISTRY).rstrip("/")
    tag = tag or os.environ.get("EDU_MLM_TAG") or DEFAULT_TAG
    return f"{registry}/edu-mlm-{STAGE_IMAGE[stage]}:{tag}"
