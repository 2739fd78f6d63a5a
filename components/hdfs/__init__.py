"""hdfs: import an HDFS path into a corpus or model artifact; export an artifact to HDFS atomically.

Library entry points `import_from_hdfs(hdfs_path, output_dir, ...)` and
`export_to_hdfs(input_dir, hdfs_path, ...)`; CLI `python -m components.hdfs import|export --help`.
"""

from components.hdfs.transfer import export_to_hdfs, import_from_hdfs

__all__ = ["export_to_hdfs", "import_from_hdfs"]
