"""What the pipeline's HDFS tasks run (plain functions; `spec.py` declares them and
`components/kfp/generated/hdfs.py`, written from that, wraps them for KFP)."""

from components.hdfs.arguments import HdfsExportArguments, HdfsImportArguments


def run_export_task(artifact, args: HdfsExportArguments, hdfs_dir, name):
    """Upload `artifact` to `hdfs_dir`/`name`; an existing one is refused (a run never
    replaces an earlier export: it may be the only copy of that model)."""
    import posixpath

    from components.hdfs.transfer import export_to_hdfs

    export_to_hdfs(args.replace(input_dir=artifact.path,
                                hdfs_path=posixpath.join(hdfs_dir, name)),
                   replace_fix="pass another export_hdfs_dir (a run never replaces an earlier "
                   "export)")


def run_import_task(artifact, args: HdfsImportArguments):
    """Copy `hdfs_path` (a model directory, or raw text to clean into a corpus) into `artifact`."""
    from components.hdfs.transfer import import_from_hdfs

    import_from_hdfs(args.replace(output_dir=artifact.path))
