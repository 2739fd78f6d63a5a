"""Compile the pipeline to `pipeline.yaml` and start runs on a Kubeflow Pipelines endpoint."""

import json
import logging
import os
import tempfile
import urllib.error
import urllib.request

from components.common.errors import UserError

log = logging.getLogger(__name__)

HEALTH_PATH = "/apis/v2beta1/healthz"
CONNECT_TIMEOUT_S = 5


def compile_pipeline(pipeline_func, output):
    from kfp import compiler

    tmp = f"{output}.tmp-{os.getpid()}.yaml"  # the compiler insists on the suffix
    compiler.Compiler().compile(pipeline_func, tmp)
    os.replace(tmp, output)


def check_endpoint(host):
    """Fail fast, in one line, unless `host` answers like a KFP API server.

    kfp.Client itself raises urllib3's MaxRetryError for an unreachable host and waits about
    25 s before failing on a server that is not KFP, so ask the health endpoint first.
    """
    if not host.startswith(("http://", "https://")):
        raise UserError(f"--host {host!r} is not an http(s) URL", where="--host",
                        fix="pass the KFP endpoint, e.g. http://localhost:8080")
    url = host.rstrip("/") + HEALTH_PATH
    try:
        with urllib.request.urlopen(url, timeout=CONNECT_TIMEOUT_S) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as err:
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


def submit(build_pipeline, host, arguments, experiment=None, run_name=None,
           enable_caching=True):
    """Start a run of the pipeline `build_pipeline()` returns on `host`; return the run id.
    The endpoint is checked before anything heavy is imported or built."""
    check_endpoint(host)
    import kfp

    pipeline_func = build_pipeline()
    try:
        client = kfp.Client(host=host)
        with tempfile.TemporaryDirectory() as tmp:
            package = os.path.join(tmp, "pipeline.yaml")
            compile_pipeline(pipeline_func, package)
            result = client.create_run_from_pipeline_package(
                package, arguments=arguments, run_name=run_name,
                experiment_name=experiment, enable_caching=enable_caching)
    except Exception as err:  # kfp raises ApiException, urllib3 and HTTP errors alike
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"KFP at {host} refused the run: {first_line}", where="--host",
                        fix="check the parameters and your access to the namespace") from err
    log.info("started run %s on %s", result.run_id, host)
    return result.run_id
