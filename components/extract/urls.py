"""Source URLs and their secrets: credentials from the environment (a Kubernetes Secret), the
URL as shown (password masked) and as described in a manifest (no user or password), and one
masked line out of a driver's error."""

import os
import re

from components.common.errors import UserError

USER_ENV = "EDU_MLM_SOURCE_USER"
PASSWORD_ENV = "EDU_MLM_SOURCE_PASSWORD"
# Query-string parameters that can carry secrets in some drivers' URLs.
SECRET_PARAMS = ("password", "passwd", "pwd", "secret", "token", "key", "keytab")


def parse_url(url):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError as err:
        raise UserError("cannot parse the database URL", where="--source_url",
                        fix="write it as dialect+driver://user@host:port/database, "
                            "e.g. sqlite:///corpus.db or hive://user@host:10000/default") from err


def with_env_credentials(url):
    """Fill the user and password the URL leaves out from the environment.

    PyHive accepts a password only in LDAP and CUSTOM auth modes, so for other `hive://` modes the
    password variable is left unused rather than turned into a connection error. File databases
    (SQLite: no host) take no credentials.
    """
    if not url.host:
        return url
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if url.username is None and user:
        url = url.set(username=user)
    wants_password = not url.drivername.startswith("hive") or str(
        url.query.get("auth", "")).upper() in ("LDAP", "CUSTOM")
    if url.password is None and password and wants_password:
        url = url.set(password=password)
    return url


def _without_secret_params(url):
    keep = {k: v for k, v in url.query.items() if not any(s in k.lower() for s in SECRET_PARAMS)}
    return url.set(query=keep)


def masked_url(url):
    """The URL for logs: password shown as ***, secret query parameters dropped."""
    return _without_secret_params(url).render_as_string(hide_password=True)


def described_url(url):
    """The URL for the manifest: no user, no password (`URL.set(password=None)` would keep it)."""
    from sqlalchemy.engine import URL

    url = _without_secret_params(url)
    return URL.create(url.drivername, host=url.host, port=url.port, database=url.database,
                      query=url.query).render_as_string()


def secrets_of(url, given=None):
    """Strings that must never appear in a message: the password, secret query values, and the
    user when it came from the environment rather than from the URL as `given`."""
    secrets = [url.password] if url.password else []
    if given is not None and given.username is None and url.username:
        secrets.append(url.username)
    for k, v in url.query.items():
        if any(s in k.lower() for s in SECRET_PARAMS):
            secrets += [v] if isinstance(v, str) else list(v)
    return [s for s in secrets if s]


# `org.apache.spark.sql.AnalysisException: ` and the like: noise in a one-line message.
_JAVA_EXCEPTION = re.compile(r"(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)\b(?:\$\w+)?:?\s*")
_ERROR_CODE = re.compile(r"\[[A-Z][A-Z_.]*\]")


def error_line(err, secrets=()):
    """One line out of a driver exception, with secrets masked.

    PyHive raises OperationalError whose argument is the Thrift response; its `status.errorMessage`
    holds the server's message: a Java exception, many lines long, with the error code repeated
    ("Error running query: [CODE] org.apache…Exception: [CODE] The table … cannot be found.").
    Java class names and the repeated code are dropped; a first line with nothing left but the
    code is completed by the next one.
    """
    orig = getattr(err, "orig", None) or err
    arg = orig.args[0] if getattr(orig, "args", None) else orig
    status = getattr(arg, "status", None)
    message = getattr(status, "errorMessage", None) or str(arg) or type(orig).__name__
    lines = [_JAVA_EXCEPTION.sub("", line).strip() for line in str(message).splitlines()]
    lines = [line for line in lines if line] or [type(orig).__name__]
    line = lines[0]
    if len(lines) > 1 and not _ERROR_CODE.sub("", line).split(":")[-1].strip():
        line += " " + lines[1]
    for code in set(_ERROR_CODE.findall(line)):
        first = line.index(code) + len(code)
        line = line[:first] + line[first:].replace(code + " ", "").replace(code, "")
    line = " ".join(line.split())
    for secret in secrets:
        line = line.replace(secret, "***")
    return line[:400]
