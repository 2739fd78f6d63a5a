"""KFP components: bring an HDFS path in as an artifact; copy a finished artifact (a trained
model) to HDFS, atomically (dataprep image).

The namenode URL is a run parameter; who we are (user, delegation token) comes from the
Kubernetes Secret the pipeline maps to EDU_MLM_HDFS_USER / EDU_MLM_HDFS_TOKEN.
"""

from kfp import dsl
from kfp.dsl import Artifact, Input, Output

from components.images import image


@dsl.component(base_image=image("hdfs"), install_kfp_package=False)
def hdfs_export(
    artifact: Input[Artifact],
    hdfs_dir: str,
    name: str,
    namenode_url: str = "",
    auth: str = "insecure",
    overwrite: bool = False,
):
    """Upload `artifact` to `hdfs_dir`/`name`."""
    import posixpath

    from components.hdfs import export_to_hdfs

    export_to_hdfs(input_dir=artifact.path, hdfs_path=posixpath.join(hdfs_dir, name),
                   namenode_url=namenode_url or None, auth=auth, overwrite=overwrite)


@dsl.component(base_image=image("hdfs"), install_kfp_package=False)
def hdfs_import(
    artifact: Output[Artifact],
    hdfs_path: str,
    kind: str = "model",
    namenode_url: str = "",
    auth: str = "insecure",
):
    """Copy `hdfs_path` (a model directory, or raw text to clean into a corpus) into `artifact`."""
    from components.hdfs import import_from_hdfs

    import_from_hdfs(hdfs_path=hdfs_path, output_dir=artifact.path,
                     namenode_url=namenode_url or None, auth=auth, kind=kind)
