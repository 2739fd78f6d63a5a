"""The HDFS stage as the pipeline sees it (`components.common.stage_spec`), dataprep image:
copy the run's models to HDFS, atomically (the pipeline's `export` step, wired by
`pipeline/definition.add_export`: one task per model, only when `export_hdfs_dir` is set), and
bring an HDFS path in as an artifact (the hdfs-import pipeline).

The namenode URL is a run parameter; who we are (user, delegation token) comes from the
Kubernetes Secret the pipeline maps to EDU_MLM_HDFS_USER / EDU_MLM_HDFS_TOKEN.
"""

from components.common.arguments import REQUIRED, Param
from components.common.stage_spec import Pod, StageSpec, TaskSpec
from components.hdfs import tasks
from components.hdfs.arguments import HdfsExportArguments, HdfsImportArguments

# artifact → (its name on HDFS, the export task's name)
EXPORTS = {"model": ("tf_model", "export_tf_model"),
           "hf_model": ("hf_model", "export_hf_model"),
           "student": ("student", "export_student"),
           "serving_model": ("serving_model", "export_serving_model")}

EXPORT_HDFS_DIR = Param("export_hdfs_dir", str, "", "if set: copy the trained model (tf_model/), "
                        "the transformers model (hf_model/), the distilled student (student/) and "
                        "its ONNX export (serving_model/) to this HDFS directory")
HDFS_URL = Param("hdfs_url", str, "", "WebHDFS namenode URL (default: $EDU_MLM_HDFS_URL in the "
                 "pod)")

EXPORT_NAMES = tuple(task for _, task in EXPORTS.values())

HDFS = StageSpec(
    name="hdfs", step="export", image="dataprep", package="hdfs", order=90,
    doc="The trained models copied to HDFS; an HDFS path brought in as an artifact.",
    tasks=(
        TaskSpec(EXPORT_NAMES[0], tasks.run_export_task, "Upload `artifact` to `hdfs_dir`/`name`.",
                 inputs={"artifact": "Artifact"}, arguments=HdfsExportArguments,
                 parameters=("namenode_url", "hdfs_auth", "overwrite"),
                 wired=(Param("hdfs_dir", str, REQUIRED, "HDFS directory of the run's exports"),
                        Param("name", str, REQUIRED, "the artifact's name there")),
                 copies=EXPORT_NAMES[1:]),
        TaskSpec("hdfs_import", tasks.run_import_task,
                 "Copy `hdfs_path` (a model directory, or raw text to clean into a corpus) into "
                 "`artifact`.",
                 outputs={"artifact": "Artifact"}, arguments=HdfsImportArguments,
                 parameters=("hdfs_path", "kind", "namenode_url", "hdfs_auth")),
    ),
    reads={task: {"artifact": artifact} for artifact, (_, task) in EXPORTS.items()},
    pod=Pod(cpu="1", memory="2G", secret="hdfs"),
    run_parameters=(EXPORT_HDFS_DIR, HDFS_URL, *HdfsExportArguments.params(["hdfs_auth"])),
    clis={("components.hdfs", "import"): HdfsImportArguments,
          ("components.hdfs", "export"): HdfsExportArguments},
)
