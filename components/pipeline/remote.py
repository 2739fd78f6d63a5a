"""Compile the pipeline to `pipeline.yaml` and start runs on a Kubeflow Pipelines endpoint."""

import contextlib
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request

from components.common.errors import UserError
from components.pipeline import backends

log = logging.getLogger(__name__)

HEALTH_PATH = "/apis/v2beta1/healthz"
CONNECT_TIMEOUT_S = 5
# Where a token comes from, first found wins: --token-file, $KF_PIPELINES_TOKEN (the token
# itself), $KF_PIPELINES_SA_TOKEN_PATH, the projected service-account token in a Kubeflow pod.
TOKEN_ENV = "KF_PIPELINES_TOKEN"
TOKEN_PATH_ENV = "KF_PIPELINES_SA_TOKEN_PATH"
IN_CLUSTER_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"
CREDENTIALS_FIX = (f"pass a token (--token-file FILE, ${TOKEN_ENV}, or ${TOKEN_PATH_ENV}) "
                   "allowed in your profile namespace, and --namespace NAMESPACE")


def compile_pipeline(pipeline_func, output):
    """Write the package to `output` (its directory created) through a temporary sibling and a
    rename, so a rerun replaces it whole."""
    from kfp import compiler

    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tmp = f"{output}.tmp-{os.getpid()}.yaml"  # the compiler insists on the suffix
    try:
        compiler.Compiler().compile(pipeline_func, tmp)
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def find_token(token_file=None):
    """The bearer token for the KFP API from the places above, or None (a cluster without auth)."""
    if not token_file and os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    path = token_file or os.environ.get(TOKEN_PATH_ENV) or (
        IN_CLUSTER_TOKEN_PATH if os.path.exists(IN_CLUSTER_TOKEN_PATH) else None)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as err:
        raise UserError(f"cannot read the token file: {err.strerror}", where=path,
                        fix=CREDENTIALS_FIX) from err


def check_endpoint(host, token=None):
    """Fail fast, in one line, unless `host` answers like a KFP API server; return its health
    JSON (with the backend's `tag_name`).

    kfp.Client itself raises urllib3's MaxRetryError for an unreachable host and waits about
    25 s before failing on a server that is not KFP, so ask the health endpoint first.
    """
    if not host.startswith(("http://", "https://")):
        raise UserError(f"--host {host!r} is not an http(s) URL", where="--host",
                        fix="pass the KFP endpoint, e.g. http://localhost:8080")
    url = host.rstrip("/") + HEALTH_PATH
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise UserError(f"{host} answered HTTP {err.code} ({err.reason}): "
                            f"{'no valid token' if err.code == 401 else 'not allowed'}",
                            where="--host", fix=CREDENTIALS_FIX) from err
        raise UserError(f"{host} answered HTTP {err.code} on {HEALTH_PATH}: not a Kubeflow "
                        "Pipelines API (or it needs authentication)", where="--host",
                        fix="pass the ml-pipeline API endpoint (kubectl port-forward "
                        "svc/ml-pipeline-ui 8080:80 -n kubeflow, then http://localhost:8080)"
                        ) from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"cannot reach {host}: {reason}", where="--host",
                        fix="check the URL and that the endpoint is up and reachable "
                        "(VPN, port-forward)") from err
    try:
        health = json.loads(body)
    except ValueError:
        health = None
    if not isinstance(health, dict):
        raise UserError(f"{host} is not a Kubeflow Pipelines API ({HEALTH_PATH} did not answer "
                        "JSON; a login page?)", where="--host",
                        fix="pass the ml-pipeline API endpoint, or log in / set a token")
    return health


def backend_version_for(health, requested=None):
    """The backend version to compile for: `requested` (--backend-version) or the server's own
    `tag_name`; refuses a server older than the floor. A server that does not say (images built
    without TAG_NAME report 'unknown', as 2.4-2.15 releases do) gets the compat build, which
    runs on every supported version."""
    reported = str(health.get("tag_name") or "")
    if backends.parse_version(reported):
        backends.needs_compat(reported)
        if not requested:
            log.info("KFP backend %s", reported)
            return reported
    if requested:
        return requested
    log.warning("the KFP backend does not report its version (tag_name %r): compiling the "
                "compat pipeline (backends %s and newer); pass --backend-version %s or newer "
                "for the full one", reported, backends.COMPAT_FLOOR, backends.FULL)
    return backends.COMPAT_FLOOR


def submit(build_pipeline, host, arguments, experiment=None, run_name=None,
           enable_caching=True, namespace=None, token_file=None, backend_version=None):
    """Start a run of the pipeline `build_pipeline(backend_version)` returns on `host`; return
    the run id. The endpoint (and its version) is checked before anything heavy is built."""
    token = find_token(token_file)
    version = backend_version_for(check_endpoint(host, token), backend_version)
    import kfp

    pipeline_func = build_pipeline(version)
    try:
        client = kfp.Client(host=host, namespace=namespace, existing_token=token)
        with tempfile.TemporaryDirectory() as tmp:
            package = os.path.join(tmp, "pipeline.yaml")
            compile_pipeline(pipeline_func, package)
            result = client.create_run_from_pipeline_package(
                package, arguments=arguments, run_name=run_name,
                experiment_name=experiment, enable_caching=enable_caching)
    except Exception as err:  # kfp raises ApiException, urllib3 and HTTP errors alike
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if getattr(err, "status", None) in (401, 403):
            raise UserError(f"KFP at {host} refused the run: HTTP {err.status} "
                            f"({getattr(err, 'reason', '')})", where="--host",
                            fix=CREDENTIALS_FIX) from err
        raise UserError(f"KFP at {host} refused the run: {first_line}", where="--host",
                        fix="check the parameters and your access to the namespace") from err
    log.info("started run %s on %s", result.run_id, host)
    return result.run_id
