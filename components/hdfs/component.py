"""KFP components: bring an HDFS path in as an artifact; copy a finished artifact (a trained
model) to HDFS, atomically (dataprep image).

The namenode URL is a run parameter; who we are (user, delegation token) comes from the
Kubernetes Secret the pipeline maps to EDU_MLM_HDFS_USER / EDU_MLM_HDFS_TOKEN.
"""

from kfp.dsl import Artifact

from components.common.arguments import REQUIRED, Param
from components.common.kfp_component import component
from components.hdfs import tasks
from components.hdfs.arguments import HdfsExportArguments, HdfsImportArguments


def hdfs_export_component(name="hdfs_export"):
    """The export component, its tasks named after `name` (one per exported artifact)."""
    return component(
        name, tasks.run_export_task, "hdfs",
        [Param("hdfs_dir", str, REQUIRED, "HDFS directory of the run's exports"),
         Param("name", str, REQUIRED, "the artifact's name there"),
         *HdfsExportArguments.params(["namenode_url", "hdfs_auth", "overwrite"])],
        inputs={"artifact": Artifact},
        doc="Upload `artifact` to `hdfs_dir`/`name`.")



hdfs_import = component(
    "hdfs_import", tasks.run_import_task, "hdfs",
    HdfsImportArguments.params(["hdfs_path", "kind", "namenode_url", "hdfs_auth"]),
    outputs={"artifact": Artifact},
    doc="Copy `hdfs_path` (a model directory, or raw text to clean into a corpus) into "
        "`artifact`.")
