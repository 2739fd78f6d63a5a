"""KFP components of the hdfs stage, written by `make generate` from components/hdfs/spec.py and
the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Output

from components.images import image


@dsl.component(base_image=image("hdfs"), install_kfp_package=False)
def export_tf_model(
    artifact: Input[Artifact],
    hdfs_dir: str,
    name: str,
    namenode_url: str = "",
    hdfs_auth: str = "insecure",
    overwrite: bool = False,
):
    """Upload `artifact` to `hdfs_dir`/`name`."""
    from components.common.errors import recording_step_error
    from components.hdfs.arguments import HdfsExportArguments
    from components.hdfs.tasks import run_export_task

    with recording_step_error():
        args = HdfsExportArguments.from_run_values(
            namenode_url=namenode_url,
            hdfs_auth=hdfs_auth,
            overwrite=overwrite,
        )
        run_export_task(
            artifact,
            args,
            hdfs_dir=hdfs_dir,
            name=name,
        )


@dsl.component(base_image=image("hdfs"), install_kfp_package=False)
def export_hf_model(
    artifact: Input[Artifact],
    hdfs_dir: str,
    name: str,
    namenode_url: str = "",
    hdfs_auth: str = "insecure",
    overwrite: bool = False,
):
    """Upload `artifact` to `hdfs_dir`/`name`."""
    from components.common.errors import recording_step_error
    from components.hdfs.arguments import HdfsExportArguments
    from components.hdfs.tasks import run_export_task

    with recording_step_error():
        args = HdfsExportArguments.from_run_values(
            namenode_url=namenode_url,
            hdfs_auth=hdfs_auth,
            overwrite=overwrite,
        )
        run_export_task(
            artifact,
            args,
            hdfs_dir=hdfs_dir,
            name=name,
        )


@dsl.component(base_image=image("hdfs"), install_kfp_package=False)
def export_student(
    artifact: Input[Artifact],
    hdfs_dir: str,
    name: str,
    namenode_url: str = "",
    hdfs_auth: str = "insecure",
    overwrite: bool = False,
):
    """Upload `artifact` to `hdfs_dir`/`name`."""
    from components.common.errors import recording_step_error
    from components.hdfs.arguments import HdfsExportArguments
    from components.hdfs.tasks import run_export_task

    with recording_step_error():
        args = HdfsExportArguments.from_run_values(
            namenode_url=namenode_url,
            hdfs_auth=hdfs_auth,
            overwrite=overwrite,
        )
        run_export_task(
            artifact,
            args,
            hdfs_dir=hdfs_dir,
            name=name,
        )


@dsl.component(base_image=image("hdfs"), install_kfp_package=False)
def export_serving_model(
    artifact: Input[Artifact],
    hdfs_dir: str,
    name: str,
    namenode_url: str = "",
    hdfs_auth: str = "insecure",
    overwrite: bool = False,
):
    """Upload `artifact` to `hdfs_dir`/`name`."""
    from components.common.errors import recording_step_error
    from components.hdfs.arguments import HdfsExportArguments
    from components.hdfs.tasks import run_export_task

    with recording_step_error():
        args = HdfsExportArguments.from_run_values(
            namenode_url=namenode_url,
            hdfs_auth=hdfs_auth,
            overwrite=overwrite,
        )
        run_export_task(
            artifact,
            args,
            hdfs_dir=hdfs_dir,
            name=name,
        )


@dsl.component(base_image=image("hdfs"), install_kfp_package=False)
def hdfs_import(
    artifact: Output[Artifact],
    hdfs_path: str,
    kind: str = "corpus",
    namenode_url: str = "",
    hdfs_auth: str = "insecure",
):
    """Copy `hdfs_path` (a model directory, or raw text to clean into a corpus) into `artifact`."""
    from components.common.errors import recording_step_error
    from components.hdfs.arguments import HdfsImportArguments
    from components.hdfs.tasks import run_import_task

    with recording_step_error():
        args = HdfsImportArguments.from_run_values(
            hdfs_path=hdfs_path,
            kind=kind,
            namenode_url=namenode_url,
            hdfs_auth=hdfs_auth,
        )
        run_import_task(
            artifact,
            args,
        )
