"""What the pipeline's HDFS tasks run (plain functions; `component.py` wraps them for KFP)."""

from components.hdfs.arguments import HdfsExportArguments, HdfsImportArguments


def run_export_task(artifact, hdfs_dir, name, **parameters):
    """Upload `artifact` to `hdfs_dir`/`name`; an existing one is refused (a run never
    replaces an earlier export: it may be the only copy of that model)."""
    import posixpath

    from components.hdfs.transfer import export_to_hdfs

    export_to_hdfs(HdfsExportArguments(
        input_dir=artifact.path, hdfs_path=posixpath.join(hdfs_dir, name),
        **HdfsExportArguments.unset_to_none(parameters)),
        replace_fix="pass another export_hdfs_dir (a run never replaces an earlier export)")


def run_import_task(artifact, **parameters):
    """Copy `hdfs_path` (a model directory, or raw text to clean into a corpus) into `artifact`."""
    from components.hdfs.transfer import import_from_hdfs

    import_from_hdfs(HdfsImportArguments(output_dir=artifact.path,
                                         **HdfsImportArguments.unset_to_none(parameters)))
