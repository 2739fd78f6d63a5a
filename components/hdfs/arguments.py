"""The HDFS CLI's parameters, declared once (see `components.common.arguments`)."""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg, same_as
from components.extract.arguments import ExtractArguments
from components.hdfs.client import AUTH_MODES, URL_ENV, USER_ENV

KINDS = ("corpus", "model")


@dataclass(kw_only=True)
class HdfsConnection(Arguments):
    """How to reach HDFS; both directions take it."""
    namenode_url: str | None = arg(None, "WebHDFS URL of the namenode, e.g. "
                                   "http://namenode:9870 (HA: 'http://nn1:9870;http://nn2:9870'); "
                                   f"default: ${URL_ENV}")
    hdfs_user: str | None = arg(None, f"user for insecure (simple) auth; default: ${USER_ENV}, "
                                "then the login name")
    hdfs_auth: str = arg("insecure", "insecure (user.name), token (EDU_MLM_HDFS_TOKEN) or "
                         "kerberos (SPNEGO with the pod's ticket; needs requests-kerberos)",
                         choices=AUTH_MODES)


@dataclass(kw_only=True)
class HdfsImportArguments(HdfsConnection):
    hdfs_path: str = arg(REQUIRED, "absolute HDFS path of a text file, a directory of text "
                         "files, a corpus artifact or a model directory")
    output_dir: str = arg(REQUIRED, "local artifact directory to create; a rerun replaces "
                          "it whole")
    kind: str = arg("corpus", "corpus: text cleaned like the extract stage (or a corpus "
                    "artifact copied); model: a model directory copied as is", choices=KINDS)
    # A corpus is cleaned and cut into shards exactly as extract does it.
    min_chars: int = same_as(ExtractArguments, "min_chars")
    max_chars: int = same_as(ExtractArguments, "max_chars")
    max_bad_fraction: float = same_as(ExtractArguments, "max_bad_fraction")
    normalize_punctuation: bool = same_as(ExtractArguments, "normalize_punctuation")
    dedup: bool = same_as(ExtractArguments, "dedup")
    errors: str = same_as(ExtractArguments, "errors")
    rows_per_shard: int = same_as(ExtractArguments, "rows_per_shard")
    num_shards: int = same_as(ExtractArguments, "num_shards")

    def check(self):
        ExtractArguments.check(self)


@dataclass(kw_only=True)
class HdfsExportArguments(HdfsConnection):
    input_dir: str = arg(REQUIRED, "the artifact directory to upload (must hold manifest.json)")
    hdfs_path: str = arg(REQUIRED, "absolute HDFS directory to create; an existing one is "
                         "refused unless --overwrite True: it may be the only copy of a model "
                         "that other jobs read")
    overwrite: bool = arg(False, "replace an existing HDFS directory (whole, never half)")
