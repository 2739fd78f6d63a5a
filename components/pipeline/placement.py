"""Where and how a task's pod runs on a cluster: its image, CPU/memory, GPUs and the GPU nodes'
taints and labels, retries, Secrets. Fixed when the pipeline is built (`definition.Settings`).

What the KFP driver reads of it, at 2.4.1 (the oldest backend the pipeline runs on) and later
(kubeflow/pipelines `backend/src/v2/driver/driver.go` at 2.4.1, `k8s.go` from 2.15.0):
`resourceCpuRequest`/`resourceCpuLimit`/`resourceMemoryRequest`/`resourceMemoryLimit`
(`getPodResource`), `nodeSelector.labels`, `tolerations` (key, operator, value, effect) and
`imagePullSecret[].secretName` (`initPodSpecPatch`). The retry policy's `backoffMaxDuration`
becomes Argo's `retryStrategy.backoff.maxDuration` (`backend/src/v2/compiler/argocompiler/
container.go` `getTaskRetryStrategy` at 2.4.1, `getTaskRetryParametersWithValues` at 2.17.0).
"""

import json
import re
from dataclasses import dataclass

from components import images, stages
from components.common.errors import STEP_ERRORS_ENV, UserError
from components.pipeline.code import code_version

SHM_SIZE = "8Gi"  # NCCL's buffers between GPUs without NVLink; the default 64 MB is too small
# Argo measures maxDuration from the FIRST attempt's start (workflow/controller/operator.go
# processNodeRetries, v3.4.17 to v4.0.5) and gives a retried pod that deadline (ARGO_DEADLINE):
# it must outlast the longest training, or a task preempted after it is not retried. The SDK's
# default is 3600s (kfp dsl/structures.py RetryPolicy.to_proto).
DEFAULT_RETRY_MAX_DURATION = "30d"
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
UNITS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
         "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


@dataclass(frozen=True)
class Resources:
    """A pod's CPU and memory: requests, and limits (the requests' values unless given), so
    that a namespace ResourceQuota on `limits.*` admits it."""
    cpu: str
    memory: str
    cpu_limit: str | None = None
    memory_limit: str | None = None


# The GPU tasks' defaults; `--train-resources` etc. override them.
GPU_TASK_RESOURCES = {"train": Resources("8", "64G"), "evaluate": Resources("8", "32G"),
                      "distill": Resources("8", "32G"), "downstream": Resources("8", "32G")}
# A CPU stage sized at compile time too: its latency figures are those of a pod of its size,
# which should be the serving pod's (`--serve-export-resources`).
SIZED_CPU_STAGES = ("serve_export",)


def default_resources():
    """{stage: Resources} of the stages whose size a compile option sets: the GPU stages and
    `SIZED_CPU_STAGES` (the size their spec's `Pod` gives)."""
    return {**GPU_TASK_RESOURCES, **{
        stage: Resources(stages.spec(stage).pod.cpu, stages.spec(stage).pod.memory)
        for stage in SIZED_CPU_STAGES}}


def _quantity(text, where):
    match = QUANTITY.match(text)
    if not match:
        raise UserError(f"{text!r} is not a Kubernetes quantity", where=where,
                        fix="write e.g. cpu=8,memory=30Gi (or 500m, 64G)")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_resources(text, defaults, where):
    """'cpu=4,memory=30Gi[,cpu_limit=8][,memory_limit=30Gi]' over `defaults` → Resources."""
    values = {"cpu": defaults.cpu, "memory": defaults.memory,
              "cpu_limit": defaults.cpu_limit, "memory_limit": defaults.memory_limit}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in values:
            raise UserError(f"{item!r} is not KEY=QUANTITY", where=where,
                            fix="keys: " + ", ".join(values) + " (e.g. cpu=4,memory=30Gi)")
        _quantity(value, where)
        values[key] = value
    for kind in ("cpu", "memory"):
        limit = values[f"{kind}_limit"]
        if limit and _quantity(limit, where) < _quantity(values[kind], where):
            raise UserError(f"the {kind} limit {limit} is below the request {values[kind]}",
                            where=where, fix=f"raise {kind}_limit or lower {kind}")
    return Resources(**values)


def parse_toleration(text):
    """'KEY[=VALUE]:EFFECT' → the arguments of kfp.kubernetes.add_toleration (no VALUE: any
    value of the taint, operator Exists)."""
    taint, sep, effect = text.rpartition(":")
    key, has_value, value = taint.partition("=")
    if not sep or not key or effect not in EFFECTS:
        raise UserError(f"{text!r} is not KEY[=VALUE]:EFFECT", where="--gpu-toleration",
                        fix="e.g. nvidia.com/gpu:NoSchedule or dedicated=gpu:NoSchedule; "
                        "EFFECT is one of " + ", ".join(EFFECTS))
    if has_value:
        return {"key": key, "operator": "Equal", "value": value, "effect": effect}
    return {"key": key, "operator": "Exists", "effect": effect}


def parse_node_selector(text):
    """'KEY=VALUE' → (key, value)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UserError(f"{text!r} is not KEY=VALUE", where="--gpu-node-selector",
                        fix="e.g. nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB")
    return key, value


def retry_seconds(text):
    """'30d' / '72h' / '3600s' → seconds (the SDK's own reading of a duration)."""
    # kfp is imported where it is used: `pipeline.py`'s parser reads this module's defaults,
    # and kfp takes a second to load.
    from kfp.dsl.structures import convert_duration_to_seconds

    try:
        seconds = convert_duration_to_seconds(text)
    except (ValueError, IndexError):
        seconds = 0
    if seconds <= 0:
        raise UserError(f"{text!r} is not a duration", where="--retry-max-duration",
                        fix="write e.g. 30d, 72h or 3600s")
    return seconds


DIGEST_REFERENCE = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


def read_digests(path):
    """The image references by digest that `scripts/build_images.py --digests` wrote:
    {image: 'REGISTRY/edu-mlm-<image>:TAG@sha256:…'}, each image the pipeline uses present."""
    try:
        with open(path, encoding="utf-8") as f:
            references = json.load(f)
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) else f"not JSON ({err})"
        raise UserError(f"cannot read the image digests: {reason}", where=path,
                        fix="pass the file `make images PUSH=1` wrote") from err
    needed = sorted(set(images.STAGE_IMAGE.values()))
    bad = [name for name in needed if not isinstance(references, dict)
           or not DIGEST_REFERENCE.match(str(references.get(name, "")))]
    if bad:
        raise UserError(f"no image reference by digest for {', '.join(bad)}", where=path,
                        fix="build and push all four images (`make images PUSH=1`) and pass "
                        "the digests file it writes")
    return tuple((name, references[name]) for name in needed)


def image_reference(stage, settings):
    """The stage's image: pinned by digest when the settings hold one, else by tag."""
    pinned = dict(settings.image_references).get(images.STAGE_IMAGE[stage])
    return pinned or images.image(stage, settings.registry, settings.tag)


def place(task, stage, settings, cpu="4", memory="8G", gpus=0, retried=False):
    """Pin the task's image (per stage, with the pull Secrets), its CPU/memory requests and
    limits (a GPU stage's from the settings), GPUs with an in-memory /dev/shm and the GPU nodes'
    tolerations and labels, and retries (for tasks a preempted node may kill)."""
    from kfp import kubernetes

    task.set_container_image(image_reference(stage, settings))
    if settings.image_pull_secrets:
        kubernetes.set_image_pull_secrets(task, list(settings.image_pull_secrets))
    sizes = dict(settings.resources).get(stage) or GPU_TASK_RESOURCES.get(stage) \
        or Resources(cpu, memory)
    task.set_cpu_request(sizes.cpu).set_cpu_limit(sizes.cpu_limit or sizes.cpu)
    task.set_memory_request(sizes.memory).set_memory_limit(sizes.memory_limit or sizes.memory)
    if settings.code_versions:
        task.set_env_variable("EDU_MLM_CODE_VERSION", code_version(stage))
    if settings.step_errors_dir:
        task.set_env_variable(STEP_ERRORS_ENV, settings.step_errors_dir)
    if gpus:
        task.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(gpus)
        kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm",
                                   medium="Memory", size_limit=SHM_SIZE)
        for toleration in settings.gpu_tolerations:
            kubernetes.add_toleration(task, **dict(toleration))
        for key, value in settings.gpu_node_selector:
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
    if retried and settings.retries:
        task.set_retry(settings.retries, backoff_duration="60s", backoff_factor=2.0,
                       backoff_max_duration=f"{settings.retry_max_seconds}s")
    return task


def use_secret(task, keys_to_env, settings):
    from kfp import kubernetes

    if settings.secret_name:
        kubernetes.use_secret_as_env(task, secret_name=settings.secret_name,
                                     secret_key_to_env=keys_to_env, optional=not settings.compat)
