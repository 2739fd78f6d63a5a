"""Which Kubeflow Pipelines backend versions run the compiled pipeline, and with what.

Read in the backend's own source (kubeflow/pipelines, `backend/src/v2/driver`, `.../compiler/
argocompiler`, at each release tag). Two builds of the pipeline:

- **full** (backend >= FULL): the pretraining-data fan-out with its `dsl.Collected` fan-in,
  optional Secrets.
- **compat** (COMPAT_FLOOR <= backend < FULL; Kubeflow 1.10 ships 2.4.1/2.5): one pretraining-data
  task over the whole corpus (same records: the fan-out's shard plan, one part), required
  Secrets (create it, even empty, or compile with `--secret-name ''`).
Tasks have names of their own (`evaluate-trained-model`), not display names, which backends
before 2.14 fail on when the task's outputs are read.

Older backends are refused: up to 2.4.0 the driver rejects the fields the SDK writes into the
Kubernetes config, and retries are not compiled at all.
"""

from components.common.errors import UserError

COMPAT_FLOOR = "2.4.1"
FULL = "2.15.0"

# (what the pipeline uses, first backend that supports it, where it is seen, compat build);
# 2.4.1 for what was read at the oldest supported backend only (earlier ones not checked).
FEATURES = (
    ("GPU count as a compile-time constant (`accelerator.count`)", "2.2.0",
     "driver.go initPodSpecPatch", "same"),
    ("unknown Kubernetes-config fields ignored (newer SDK fields)", "2.4.1",
     "driver main.go, util/json.go", "same"),
    ("retry policy on top-level tasks (train, evaluate, distill)", "2.4.1",
     "argocompiler container.go", "same"),
    ("its `backoffMaxDuration` as Argo's `backoff.maxDuration` (30 days)", "2.4.1",
     "argocompiler container.go getTaskRetryStrategy", "same"),
    ("CPU/memory requests and limits (`resourceCpuLimit`, ...)", "2.4.1",
     "driver.go getPodResource", "same"),
    ("GPU pods' tolerations and node selector; image pull Secrets", "2.4.1",
     "driver.go initPodSpecPatch", "same"),
    ("PVC mount by constant name (training state)", "2.2.0", "driver.go pvcMount", "same"),
    ("emptyDir mounts (`/dev/shm` in memory)", "2.3.0", "driver.go emptyDirMounts", "same"),
    ("`/minio`, `/s3`, `/gcs` as emptyDirs (non-root images)", "2.3.0",
     "argocompiler container.go", "images make them writable too"),
    ("`dsl.Collected` fan-in of the pretraining-data shards", "2.14.0",
     "driver resolve.go CollectInputs", "one pretraining-data task"),
    ("`optional` Secrets (`secretAsEnv.optional`)", "2.15.0", "driver k8s.go",
     "the Secret is required, with all four keys"),
)


def parse_version(text):
    """'2.4.1' / 'v2.5.0' / '2.14.0-rc.1' → (2, 4, 1); None when it is no version ('unknown')."""
    core = (text or "").strip().lstrip("v").split("-")[0].split("+")[0]
    parts = core.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts[:3]) + (0,) * (3 - len(parts[:3]))


def needs_compat(backend_version):
    """True for a backend that needs the compat build; refuses one below COMPAT_FLOOR."""
    version = parse_version(backend_version)
    if version is None:
        raise UserError(f"{backend_version!r} is not a KFP backend version",
                        where="--backend-version", fix="pass e.g. 2.4.1, 2.5.0 or 2.15.0")
    if version < parse_version(COMPAT_FLOOR):
        raise UserError(f"KFP backend {backend_version} is older than {COMPAT_FLOOR}, the oldest "
                        "this pipeline runs on (its driver rejects the Kubernetes settings the "
                        "SDK writes, and it compiles no retries)", where="KFP backend",
                        fix=f"upgrade Kubeflow Pipelines to {COMPAT_FLOOR} or newer "
                        "(Kubeflow 1.10 ships 2.4.1/2.5)")
    return version < parse_version(FULL)


def markdown_table():
    """The README's table of features and the backend version each needs."""
    rows = ["| feature the pipeline uses | backend | seen in | compat build |",
            "|---|---|---|---|"]
    rows += [f"| {feature} | {version} | {where} | {compat} |"
             for feature, version, where, compat in FEATURES]
    return "\n".join(rows)
