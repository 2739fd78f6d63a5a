"""Hive through PyHive: `hive://` URLs, the auth modes users meet, and errors a user can act on.

The URL's `auth` parameter must equal the server's `hive.server2.authentication`:
- `NOSASL`:   plain Thrift, no login (`hive://etl@hive:10000/edu?auth=NOSASL`).
- `NONE`:     SASL PLAIN with a user name and no real password check; PyHive uses `pure-sasl`,
              so no C `sasl` package is needed in the image (the default when `auth` is absent).
- `LDAP`:     SASL PLAIN with user and password checked by the server's LDAP. Keep the password
              out of the URL: set EDU_MLM_SOURCE_USER / EDU_MLM_SOURCE_PASSWORD (the pipeline fills
              them from a Kubernetes Secret). `CUSTOM` works the same way.
- `KERBEROS`: GSSAPI, `hive://hive.example:10000/edu?auth=KERBEROS&kerberos_service_name=hive`.
              The pod needs a ticket: the keytab is mounted from a Secret, `krb5.conf` comes with
              the image (or a ConfigMap), and `kinit -kt /secrets/etl.keytab etl@REALM` runs before
              the step (or KRB5_CLIENT_KTNAME points at the keytab). pure-sasl's GSSAPI needs the
              `kerberos` Python package, which the dataprep image must add for such clusters.
`connect_timeout` (seconds, default 60) bounds the connection and login: PyHive sets no socket
timeout, so a server that accepts the TCP connection but never answers would hang the pod.
Rows come back `batch_size` per Thrift fetch (`cursor.arraysize`), so memory stays flat; `--limit`
stops after that many rows for a dry run on a large table.

`STORED AS TEXTFILE` tables: Hive's text format ends a row at every newline, so a value holding k
newlines was already stored as k + 1 rows (the later pieces in the first column of rows of their
own) and comes back that way; extract counts each piece as a row read. Write such text to ORC
or Parquet tables (Spark's and Hive 3's default), or `regexp_replace(body, '\\n', ' ')` it on the
way in.
"""

import contextlib
import signal
import threading

from components.common.errors import UserError
from components.extract import urls

AUTH_MODES = ("NOSASL", "NONE", "LDAP", "CUSTOM", "KERBEROS")
DEFAULT_CONNECT_TIMEOUT = 60.0


@contextlib.contextmanager
def deadline(seconds):
    """Stop the block with TimeoutError after `seconds`: a SIGALRM timer interrupts the blocking
    socket read (Thrift reports that in its own words, so any error after expiry is re-raised as
    the timeout). Off the main thread, where signals cannot be used, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    expired = []

    def expire(signum, frame):
        expired.append(True)
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except Exception as err:
        if expired:
            raise TimeoutError(f"no answer within {seconds:g} s") from err
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def connect_timeout(url, shown):
    """The URL's connect_timeout in seconds (validated), or the default."""
    value = url.query.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0:
        raise UserError(f"connect_timeout={value!r} is not a positive number of seconds",
                        where=shown, fix="use e.g. &connect_timeout=60")
    return seconds


def check_url(url, shown):
    """Refuse hive:// URLs PyHive would reject with a less helpful message (`shown`: the URL as
    the user gave it, password masked)."""
    auth = str(url.query.get("auth", "NONE")).upper()
    if auth not in AUTH_MODES:
        raise UserError(f"unknown Hive auth mode {auth!r}", where=shown,
                        fix=f"use auth= one of {', '.join(AUTH_MODES)} (the server's "
                            "hive.server2.authentication)")
    if auth in ("LDAP", "CUSTOM") and not url.username:
        raise UserError(f"Hive auth={auth} needs a user and a password", where=shown,
                        fix=f"put the user in the URL (hive://user@host...) or set "
                            f"{urls.USER_ENV}, and set {urls.PASSWORD_ENV}")
    if auth in ("LDAP", "CUSTOM") and not url.password:
        raise UserError(f"Hive auth={auth} needs a password for user {url.username!r}",
                        where=shown, fix=f"set {urls.PASSWORD_ENV} (the Secret's password key "
                        "in the pipeline)")
    if auth == "KERBEROS" and "kerberos_service_name" not in url.query:
        raise UserError("Hive auth=KERBEROS needs kerberos_service_name", where=shown,
                        fix="add &kerberos_service_name=hive (the server principal's service)")


def connect(source_url):
    """A plain PyHive DB-API connection (`pyhive.hive.connect`) for a hive:// URL."""
    from pyhive import hive

    given = urls.parse_url(source_url)
    url = urls.with_env_credentials(given)
    shown = urls.masked_url(given)
    check_url(url, shown)
    kwargs = {"host": url.host, "port": url.port or 10000, "username": url.username,
              "password": url.password, "database": url.database or "default"}
    kwargs.update(url.query)
    timeout = connect_timeout(url, shown)
    kwargs.pop("connect_timeout", None)
    try:
        with deadline(timeout):
            return hive.connect(**kwargs)
    except Exception as err:
        line = urls.error_line(err, urls.secrets_of(url, given))
        raise UserError(f"cannot connect to Hive: {line}", where=shown,
                        fix=hint(err, url)) from err


def hint(err, url):
    """What to check, for the connection failures Hive users actually hit."""
    text = str(err)
    auth = str(url.query.get("auth", "NONE")).upper()
    if "read 0 bytes" in text:
        return (f"the server closed the connection at login: auth={auth} probably differs from "
                "the server's hive.server2.authentication (NOSASL, NONE, LDAP, KERBEROS)")
    if "Error validating the login" in text:
        return (f"wrong user or password for auth={auth} (check {urls.USER_ENV} / "
                f"{urls.PASSWORD_ENV}, or the Secret behind them)")
    if isinstance(err, TimeoutError):
        return ("the server took the TCP connection but did not answer the login: check that "
                "host:port is HiveServer2's Thrift port (not its HTTP or web UI port) and that it "
                "is healthy, or raise &connect_timeout=")
    if "Could not connect" in text or "failed to resolve" in text:
        return "check host and port, and that HiveServer2 is reachable from here"
    if "kerberos" in text.lower():
        return "auth=KERBEROS needs the `kerberos` Python package and a ticket (kinit)"
    return "check host, port, user, password and the auth mode"
