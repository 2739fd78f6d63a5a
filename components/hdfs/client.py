"""Connecting to HDFS over WebHDFS (the `hdfs` package) and turning its failures into one line.

Where the cluster is and who we are come from flags or the environment (the pipeline maps them
from a Kubernetes Secret / ConfigMap), never from pipeline parameters:
- EDU_MLM_HDFS_URL:  namenode WebHDFS URL(s), `http://nn1:9870;http://nn2:9870` for HA pairs;
- EDU_MLM_HDFS_USER: the user for simple (insecure) auth, sent as `user.name`;
- EDU_MLM_HDFS_TOKEN: a Hadoop delegation token for `--hdfs_auth token`;
- `--hdfs_auth kerberos`: SPNEGO through `hdfs.ext.kerberos`, with the ticket from `kinit -kt`
  (keytab mounted from a Secret, krb5.conf in the image). It needs `requests-kerberos`, which is
  imported only then and which the dataprep image must add for such clusters.
"""

import contextlib
import getpass
import logging
import os

from components.common.errors import UserError

log = logging.getLogger(__name__)

URL_ENV = "EDU_MLM_HDFS_URL"
USER_ENV = "EDU_MLM_HDFS_USER"
TOKEN_ENV = "EDU_MLM_HDFS_TOKEN"
AUTH_MODES = ("insecure", "token", "kerberos")
TIMEOUT_SECONDS = 120


def make_client(namenode_url=None, user=None, auth="insecure"):
    """An `hdfs` client for the namenode URL (flag, else EDU_MLM_HDFS_URL) and auth mode."""
    import hdfs

    url = namenode_url or os.environ.get(URL_ENV)
    if not url:
        raise UserError("no namenode URL", where=f"--namenode_url / {URL_ENV}",
                        fix="pass --namenode_url http://namenode:9870 (the WebHDFS address)")
    if auth not in AUTH_MODES:
        raise UserError(f"unknown HDFS auth mode {auth!r}", where="--hdfs_auth",
                        fix=f"use one of {', '.join(AUTH_MODES)}")
    if auth == "insecure":
        user = user or os.environ.get(USER_ENV) or getpass.getuser()
        log.info("WebHDFS %s as user %s", url, user)
        return hdfs.InsecureClient(url, user=user, timeout=TIMEOUT_SECONDS)
    if auth == "token":
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise UserError("--hdfs_auth token needs a delegation token", where=TOKEN_ENV,
                            fix=f"set {TOKEN_ENV} (e.g. from a Kubernetes Secret)")
        log.info("WebHDFS %s with a delegation token", url)
        return hdfs.TokenClient(url, token=token, timeout=TIMEOUT_SECONDS)
    try:
        from hdfs.ext.kerberos import KerberosClient
    except ImportError as err:
        raise UserError(f"--hdfs_auth kerberos needs the requests-kerberos package ({err})",
                        where="--hdfs_auth kerberos",
                        fix="add requests-kerberos and a krb5.conf to the dataprep image") from err
    log.info("WebHDFS %s with Kerberos (SPNEGO)", url)
    return KerberosClient(url, timeout=TIMEOUT_SECONDS)


FIXES = {
    "FileNotFoundException": "check the HDFS path (hdfs dfs -ls it)",
    "AccessControlException": "use a path your HDFS user may write (e.g. under /user/<name>), "
                              "or ask for access",
    "FileAlreadyExistsException": "choose another --hdfs_path or pass --overwrite True",
    "ParentNotDirectoryException": "a parent of the path is a file; choose another path",
    "SafeModeException": "the namenode is in safe mode; retry later",
}


@contextlib.contextmanager
def hdfs_errors(action, where):
    """Re-raise HDFS and network failures during `action` as one-line UserErrors."""
    import requests
    from hdfs.util import HdfsError

    try:
        yield
    except HdfsError as err:
        message = " ".join(str(err).split())
        if "Authentication failure" in message:
            fix = "check the Kerberos ticket (kinit) or the delegation token"
        else:
            fix = FIXES.get(err.exception, "check the path and the namenode's log")
        raise UserError(f"{action} failed: {message[:300]}", where=where, fix=fix) from err
    except requests.exceptions.RequestException as err:
        raise UserError(f"{action} failed: cannot reach the namenode ({type(err).__name__})",
                        where=where, fix="check --namenode_url (WebHDFS, usually port 9870) "
                                         "and the network from this pod") from err
