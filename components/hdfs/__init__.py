"""hdfs: import an HDFS path into a corpus or model artifact; export an artifact to HDFS atomically.

Library entry points `transfer.import_from_hdfs(HdfsImportArguments(...))` and
`transfer.export_to_hdfs(HdfsExportArguments(...))`; CLI `python -m components.hdfs
import|export --help`.
"""
