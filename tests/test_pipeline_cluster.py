"""What a real KFP backend makes of the compiled pipeline: GPUs, the training-state volume,
/dev/shm, the compat build for older backends, and `submit`'s version and credential checks.
No cluster runs here: the backend's rules are restated from its source, cited per test."""

import http.server
import json
import re
import subprocess
import sys
import threading

import pytest
import yaml

from components.common.run_state import CLAIM_ENV
from components.pipeline import backends, definition
from components.pipeline.remote import backend_version_for

GPU_TASKS = ("train", "evaluate-base-model", "evaluate-trained-model", "distill", "downstream")


def compile_yaml(repo_root, tmp_path, *flags):
    out = tmp_path / f"pipeline{abs(hash(flags))}.yaml"
    subprocess.run([sys.executable, "pipeline.py", "compile", "--output", str(out), *flags],
                   cwd=repo_root, check=True, capture_output=True)
    spec, platform = yaml.safe_load_all(out.read_text(encoding="utf-8"))
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.fixture(scope="module")
def full(repo_root, tmp_path_factory):
    return compile_yaml(repo_root, tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def compat(repo_root, tmp_path_factory):
    return compile_yaml(repo_root, tmp_path_factory.mktemp("compat"), "--backend-version",
                        backends.COMPAT_FLOOR)


def all_tasks(spec):
    """{task name: (task, its DAG's name)} over the root and every sub-DAG."""
    dags = {"root": spec["root"]["dag"], **{name: c["dag"] for name, c in
                                            spec["components"].items() if "dag" in c}}
    return {name: (task, dag) for dag, body in dags.items()
            for name, task in body["tasks"].items()}


def executor_of(spec, task_name):
    task, _ = all_tasks(spec)[task_name]
    return spec["components"][task["componentRef"]["name"]]["executorLabel"]


def task_parameter_values(spec, task_name):
    """The values the driver puts in the task's executor input: constants, or the pipeline
    parameters' defaults (a default run) for what the task reads from the pipeline."""
    task, _ = all_tasks(spec)[task_name]
    defaults = {name: p.get("defaultValue")
                for name, p in spec["root"]["inputDefinitions"]["parameters"].items()}
    values = {}
    for name, source in task.get("inputs", {}).get("parameters", {}).items():
        if "runtimeValue" in source:
            values[name] = source["runtimeValue"]["constant"]
        elif "componentInputParameter" in source:
            values[name] = defaults.get(source["componentInputParameter"])
    return values


PLACEHOLDER = re.compile(r"^\{\{\$\.inputs\.parameters\['(.+)'\]\}\}$")


def driver_gpu_limit(accelerator, parameter_values):
    """The nvidia.com/gpu limit the KFP driver sets, or None.

    kubeflow/pipelines `backend/src/v2/driver/driver.go` (initPodSpecPatch, 2.4.0 to 2.17.0):
    `resourceCount` when non-empty, resolved by `resolvePodSpecInputRuntimeParameter`
    (`backend/src/v2/driver/resolve.go`), which returns the input's `GetStringValue()`: "" for
    a number parameter; else the deprecated `count` when > 0. The limit is set only when both
    the type and the count are non-empty.
    """
    count = ""
    if accelerator.get("resourceCount"):
        match = PLACEHOLDER.match(accelerator["resourceCount"])
        if match:
            value = parameter_values[match.group(1)]
            count = value if isinstance(value, str) else ""
        else:
            count = accelerator["resourceCount"]
    elif int(accelerator.get("count") or 0) > 0:
        count = str(accelerator["count"])
    kind = accelerator.get("resourceType") or accelerator.get("type")
    return count if kind and count else None


def test_the_driver_rule_gives_a_number_parameter_no_gpu():
    """The rule above reproduces what was seen: an int run parameter resolves to no GPU."""
    accelerator = {"resourceCount": "{{$.inputs.parameters['pipelinechannel--num_gpus']}}",
                   "resourceType": "nvidia.com/gpu"}
    assert driver_gpu_limit(accelerator, {"pipelinechannel--num_gpus": 2}) is None
    assert driver_gpu_limit(accelerator, {"pipelinechannel--num_gpus": "2"}) == "2"


@pytest.mark.parametrize("num_gpus", [None, 2])
def test_train_and_evaluate_get_their_gpus_on_the_backend(num_gpus, full, repo_root, tmp_path):
    spec, _ = full if num_gpus is None else compile_yaml(repo_root, tmp_path, "--num-gpus",
                                                         str(num_gpus))
    expected = {"train": str(num_gpus or 1), "evaluate-base-model": "1",
                "evaluate-trained-model": "1", "distill": str(num_gpus or 1), "downstream": "1"}
    executors = spec["deploymentSpec"]["executors"]
    for task in GPU_TASKS:
        accelerator = executors[executor_of(spec, task)]["container"]["resources"]["accelerator"]
        assert driver_gpu_limit(accelerator, task_parameter_values(spec, task)) == \
            expected[task], task
    # The trainer and the distiller are told how many they were granted (one process each).
    assert int(task_parameter_values(spec, "train")["num_gpus"]) == (num_gpus or 1)
    assert int(task_parameter_values(spec, "distill")["num_gpus"]) == (num_gpus or 1)
    image = executors[executor_of(spec, "distill")]["container"]["image"]
    assert image.rsplit("/", 1)[-1].startswith("edu-mlm-distiller:"), image
    assert "num_gpus" not in spec["root"]["inputDefinitions"]["parameters"]


def test_train_and_distill_mount_the_checkpoint_volume_and_shm(full):
    spec, k8s = full
    for task in ("train", "distill"):
        assert k8s[executor_of(spec, task)]["pvcMount"] == [{
            "constant": definition.DEFAULT_CHECKPOINT_PVC,
            "mountPath": definition.CHECKPOINT_MOUNT,
            "pvcNameParameter": {"runtimeValue": {"constant": definition.DEFAULT_CHECKPOINT_PVC}}}]
        assert task_parameter_values(spec, task)["checkpoint_root"] == \
            definition.CHECKPOINT_MOUNT
        # Named to the task, so that one that cannot write there names the claim to fix.
        env = spec["deploymentSpec"]["executors"][executor_of(spec, task)]["container"]["env"]
        assert {"name": CLAIM_ENV, "value": definition.DEFAULT_CHECKPOINT_PVC} in env
    for task in GPU_TASKS:
        shm = k8s[executor_of(spec, task)]["emptyDirMounts"]
        assert shm == [{"medium": "Memory", "mountPath": "/dev/shm",
                        "sizeLimit": definition.SHM_SIZE, "volumeName": "dshm"}], task
    for task in all_tasks(spec):
        if task not in GPU_TASKS and task in k8s:
            assert "emptyDirMounts" not in k8s[executor_of(spec, task)], task
    assert all(all_tasks(spec)[t][1] == "root" and "retryPolicy" in all_tasks(spec)[t][0]
               for t in GPU_TASKS)  # 2.4.1 retries only tasks of the root DAG


def uses_of_newer_features(spec, k8s):
    """What the table in `backends` marks as missing from 2.4.1, as found in a compiled spec."""
    found = set()
    for name, (task, dag) in all_tasks(spec).items():
        if "parameterIterator" in task or "artifactIterator" in task:
            found.add("ParallelFor fan-out with dsl.Collected")
        runs_a_container = "executorLabel" in spec["components"][task["componentRef"]["name"]]
        if runs_a_container and task["taskInfo"]["name"] != name:
            found.add(f"display name on {name}")
        if "retryPolicy" in task and dag != "root":
            found.add(f"retry inside a sub-DAG ({name})")
    for executor in k8s.values():
        if any(s.get("optional") for s in executor.get("secretAsEnv", ())):
            found.add("optional Secret")
    return found


def test_compat_build_uses_nothing_2_4_1_lacks(full, compat):
    assert uses_of_newer_features(*full) == {"ParallelFor fan-out with dsl.Collected",
                                             "optional Secret"}
    spec, k8s = compat
    assert uses_of_newer_features(spec, k8s) == set()
    assert "pretraining-data-whole" in spec["root"]["dag"]["tasks"]
    assert "pipeline_job_uuid" not in json.dumps(spec)
    # What the compat build keeps: GPUs, the checkpoint volume, /dev/shm, retries.
    train = k8s[executor_of(spec, "train")]
    assert train["pvcMount"][0]["constant"] == definition.DEFAULT_CHECKPOINT_PVC
    assert spec["root"]["dag"]["tasks"]["train"]["retryPolicy"]["maxRetryCount"] == 2


def test_backend_versions_choose_the_build_or_refuse():
    from components.common.errors import UserError

    assert backends.needs_compat("2.4.1") and backends.needs_compat("v2.5.0")
    assert not backends.needs_compat("2.15.0") and not backends.needs_compat("2.17.0")
    assert backend_version_for({"tag_name": "2.5.0"}) == "2.5.0"
    assert backend_version_for({"tag_name": "unknown"}) == backends.COMPAT_FLOOR
    assert backend_version_for({"tag_name": "unknown"}, "2.16.1") == "2.16.1"
    with pytest.raises(UserError, match="older than 2.4.1"):
        backend_version_for({"tag_name": "2.2.0"}, "2.17.0")  # the server's word wins
    with pytest.raises(UserError, match="not a KFP backend version"):
        backends.needs_compat("latest")


class FakeKfpHealth(http.server.BaseHTTPRequestHandler):
    """Answers /apis/v2beta1/healthz as the KFP API server does (main.go: commit_sha,
    tag_name, multi_user), or with `status` when set; a stand-in, as no KFP server runs here."""
    status, tag_name, seen_auth = 200, "2.2.0", []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).seen_auth.append(self.headers.get("Authorization"))
        body = json.dumps({"commit_sha": "0" * 40, "tag_name": self.tag_name,
                           "multi_user": True}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def submit_against(repo_root, handler, *flags, env=None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        return subprocess.run(
            [sys.executable, "pipeline.py", "submit", "--host",
             f"http://127.0.0.1:{server.server_port}", "--param",
             "base_model_uri=minio://models/base", *flags],
            cwd=repo_root, capture_output=True, text=True, timeout=60, env=env)
    finally:
        server.shutdown()


def one_error_line(result):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_submit_to_an_old_backend_names_the_floor(repo_root):
    handler = type("Old", (FakeKfpHealth,), {"tag_name": "2.2.0"})
    line = one_error_line(submit_against(repo_root, handler))
    assert "KFP backend 2.2.0 is older than 2.4.1" in line and "upgrade" in line


def test_submit_refused_for_credentials_says_how_to_pass_them(repo_root, tmp_path):
    import os

    token = tmp_path / "token"
    token.write_text("sekret-token\n")
    handler = type("Forbidden", (FakeKfpHealth,), {"status": 403, "seen_auth": []})
    line = one_error_line(submit_against(repo_root, handler, "--token-file", str(token),
                                         "--namespace", "team-a"))
    assert "HTTP 403" in line and "--token-file" in line and "--namespace" in line
    assert handler.seen_auth == ["Bearer sekret-token"]
    handler = type("NoAuth", (FakeKfpHealth,), {"status": 401, "seen_auth": []})
    env = {**os.environ, "KF_PIPELINES_TOKEN": "from-env"}
    line = one_error_line(submit_against(repo_root, handler, env=env))
    assert "HTTP 401" in line and "KF_PIPELINES_TOKEN" in line
    assert handler.seen_auth == ["Bearer from-env"]


def test_readme_shows_the_backend_table(repo_root):
    assert backends.markdown_table() in (repo_root / "README.md").read_text(encoding="utf-8")


THIRTY_DAYS = 30 * 86400


@pytest.mark.parametrize("build", ["full", "compat"])
def test_retries_outlast_the_longest_training(build, request):
    """Argo measures `backoff.maxDuration` from the first attempt's start and fails the node
    with "Max duration limit exceeded" past it (argo-workflows workflow/controller/operator.go
    processNodeRetries, v3.4.17, v3.5.14, v4.0.5); the KFP compiler copies the task's
    `backoffMaxDuration` seconds into it (kubeflow/pipelines backend/src/v2/compiler/
    argocompiler/container.go: getTaskRetryStrategy at 2.4.1, getTaskRetryParametersWithValues
    at 2.17.0). Without it the SDK writes 3600s (kfp dsl/structures.py RetryPolicy.to_proto)."""
    spec, _ = request.getfixturevalue(build)
    retried = {name: task["retryPolicy"] for name, (task, _) in all_tasks(spec).items()
               if "retryPolicy" in task}
    assert set(retried) == set(GPU_TASKS)
    for name, policy in retried.items():
        assert policy["backoffMaxDuration"] == f"{THIRTY_DAYS}s", name
        assert policy["maxRetryCount"] == 2 and policy["backoffDuration"] == "60s", name


def test_retry_max_duration_is_a_compile_option(repo_root, tmp_path):
    spec, _ = compile_yaml(repo_root, tmp_path, "--retry-max-duration", "72h",
                           "--backend-version", backends.COMPAT_FLOOR)
    assert {all_tasks(spec)[t][0]["retryPolicy"]["backoffMaxDuration"] for t in GPU_TASKS} == \
        {f"{72 * 3600}s"}


def driver_pod_spec(container, k8s_executor):
    """What the KFP 2.4.1 driver puts into the pod of a task (backend/src/v2/driver/driver.go
    at 2.4.1): requests and limits from `resource{Cpu,Memory}{Request,Limit}`, the old float
    fields only when those are empty (getPodResource); `nodeSelector.labels`, `tolerations`
    (key, operator, value, effect) and `imagePullSecret[].secretName` (initPodSpecPatch/
    extendPodSpecPatch). The other fields the SDK writes are unknown to it and ignored."""
    resources = container.get("resources", {})
    pod = {"requests": {}, "limits": {}}
    for kind in ("Cpu", "Memory"):
        for side in ("Request", "Limit"):
            value = resources.get(f"resource{kind}{side}")
            if value:
                pod[f"{side.lower()}s"][kind.lower()] = value
    pod["nodeSelector"] = k8s_executor.get("nodeSelector", {}).get("labels", {})
    pod["tolerations"] = [{k: t[k] for k in ("key", "operator", "value", "effect") if k in t}
                          for t in k8s_executor.get("tolerations", ())]
    pod["imagePullSecrets"] = [s["secretName"] for s in k8s_executor.get("imagePullSecret", ())]
    return pod


PLACEMENT_FLAGS = ("--gpu-toleration", "nvidia.com/gpu:NoSchedule",
                   "--gpu-toleration", "dedicated=ml:NoExecute",
                   "--gpu-node-selector", "nvidia.com/gpu.product=NVIDIA-L4",
                   "--gpu-node-selector", "pool=gpu",
                   "--train-resources", "cpu=4,memory=28Gi",
                   "--distill-resources", "cpu=6,memory=24Gi,cpu_limit=12",
                   "--evaluate-resources", "memory=12Gi",
                   "--downstream-resources", "cpu=2,memory=10Gi",
                   "--serve-export-resources", "cpu=2,memory=6Gi,cpu_limit=2",
                   "--image-pull-secret", "regcred", "--image-pull-secret", "mirror")


@pytest.mark.parametrize("backend", [backends.FULL, backends.COMPAT_FLOOR])
def test_gpu_pods_tolerate_the_gpu_nodes_and_take_the_sizes_given(backend, repo_root, tmp_path):
    """Tolerations and node labels on the five GPU tasks only; their requests and limits as
    given, and the serving export's (a CPU pod, sized like the serving pod it times); every pod
    with limits (a namespace ResourceQuota on limits.* admits it) and the pull Secrets."""
    spec, k8s = compile_yaml(repo_root, tmp_path, *PLACEMENT_FLAGS, "--backend-version", backend)
    executors = spec["deploymentSpec"]["executors"]
    expected = {"train": ({"cpu": "4", "memory": "28Gi"}, {"cpu": "4", "memory": "28Gi"}),
                "distill": ({"cpu": "6", "memory": "24Gi"}, {"cpu": "12", "memory": "24Gi"}),
                "evaluate-base-model": ({"cpu": "8", "memory": "12Gi"},) * 2,
                "evaluate-trained-model": ({"cpu": "8", "memory": "12Gi"},) * 2,
                "downstream": ({"cpu": "2", "memory": "10Gi"},) * 2}
    tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                   {"key": "dedicated", "operator": "Equal", "value": "ml",
                    "effect": "NoExecute"}]
    checked = 0
    for name, (task, _) in all_tasks(spec).items():
        component = spec["components"][task["componentRef"]["name"]]
        executor = component.get("executorLabel")
        if "container" not in executors.get(executor, {}):
            continue  # a sub-DAG (fan-out, export condition) or the importer: no pod of ours
        pod = driver_pod_spec(executors[executor]["container"], k8s.get(executor, {}))
        assert pod["imagePullSecrets"] == ["regcred", "mirror"], name
        assert set(pod["limits"]) == {"cpu", "memory"} == set(pod["requests"]), name
        if name in GPU_TASKS:
            assert (pod["requests"], pod["limits"]) == expected[name], name
            assert pod["tolerations"] == tolerations, name
            assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4",
                                           "pool": "gpu"}, name
        else:
            assert pod["tolerations"] == [] and pod["nodeSelector"] == {}, name
            assert pod["limits"] == pod["requests"], name
        if name == "serve-export":
            assert pod["requests"] == {"cpu": "2", "memory": "6Gi"}, name
        checked += 1
    assert checked >= 13


def test_gpu_tasks_keep_their_default_sizes_with_limits(full):
    spec, k8s = full
    executors = spec["deploymentSpec"]["executors"]
    train = driver_pod_spec(executors[executor_of(spec, "train")]["container"], {})
    assert train["requests"] == train["limits"] == {"cpu": "8", "memory": "64G"}
    export = driver_pod_spec(executors[executor_of(spec, "serve-export")]["container"], {})
    assert export["requests"] == export["limits"] == {"cpu": "4", "memory": "16G"}
    assert not any("tolerations" in e or "nodeSelector" in e or "imagePullSecret" in e
                   for e in k8s.values())


@pytest.mark.parametrize("flags, needle", [
    (("--gpu-toleration", "nvidia.com/gpu"), "KEY[=VALUE]:EFFECT"),
    (("--gpu-toleration", "a=b:Never"), "EFFECT is one of"),
    (("--gpu-node-selector", "pool"), "KEY=VALUE"),
    (("--train-resources", "cpu=4,gpu=2"), "keys: cpu, memory"),
    (("--distill-resources", "memory=lots"), "not a Kubernetes quantity"),
    (("--evaluate-resources", "memory=32Gi,memory_limit=16Gi"), "below the request"),
    (("--serve-export-resources", "cpu=2,cpu_limit=1"), "below the request"),
    (("--retry-max-duration", "forever"), "not a duration"),
])
def test_bad_cluster_flags_are_one_line(flags, needle):
    import pipeline

    args = pipeline.build_parser().parse_args(["compile", *flags])
    from components.common.errors import UserError

    with pytest.raises(UserError, match=re.escape(needle)):
        pipeline.settings_from(args)


def test_readme_creates_the_secret_with_every_key(repo_root):
    """Before 2.15 the driver sets no `optional` on a `secretKeyRef` (driver.go at 2.4.1), so a
    missing key leaves the pod in CreateContainerConfigError: the README's example has all."""
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    example = readme[readme.index("create secret generic"):].split("```")[0]
    assert set(re.findall(r"--from-literal=(\w+)=", example)) == {
        *definition.SECRET_KEYS_TO_ENV, *definition.HDFS_SECRET_KEYS_TO_ENV}


def test_readme_names_the_state_directory_as_the_tasks_make_it(repo_root):
    from components.common.run_state import checkpoint_dir_for

    uri = "minio://mlpipeline/v2/artifacts/edu-mlm/RUN/train/UUID/model"
    name = checkpoint_dir_for(definition.CHECKPOINT_MOUNT, uri)
    documented = name.replace("RUN", "<run id>").replace("UUID", "<uuid>")[:-12] + "<12 hex"
    readme = " ".join((repo_root / "README.md").read_text(encoding="utf-8").split())
    assert documented in readme
    assert "python pipeline.py checkpoint-volume --namespace" in readme
