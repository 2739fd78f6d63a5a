"""A Kubeflow Training Operator `TFJob` that runs this trainer on several nodes.

Each worker pod runs `python -m components.train` with the same flags; the operator sets
`TF_CONFIG`, from which the trainer picks `MultiWorkerMirroredStrategy` (global batch =
per-replica batch × GPUs per worker × workers). Worker 0 is the chief: it alone writes the model,
the logs and the training state into `--output_dir`, so `--input_dir` and `--output_dir` must be
on a volume every pod mounts (a ReadWriteMany PersistentVolumeClaim). A preempted pod gets
SIGTERM, saves, exits 143 (retryable under `restartPolicy: ExitCode`) and its restart resumes
from the chief's newest state; a user error exits 2 and fails the job instead of looping.
"""

TFJOB_API_VERSION = "kubeflow.org/v1"
# The operator finds the TensorFlow container by this name.
CONTAINER_NAME = "tensorflow"


def tfjob_manifest(name, image, train_args, workers=2, gpus_per_worker=1, namespace=None,
                   volume_claim=None, mount_path="/mnt/edu-mlm", cpu="8", memory="64Gi",
                   termination_grace_seconds=300, backoff_limit=20):
    """The TFJob as a dict (dump it with `yaml.safe_dump`).

    train_args: the trainer's flags, e.g. ["--input_dir=/mnt/edu-mlm/data", ...], without
    `--num_gpus` (set from `gpus_per_worker`). volume_claim: a PVC mounted at `mount_path`.
    """
    if workers < 1 or gpus_per_worker < 0:
        raise ValueError("workers must be >= 1 and gpus_per_worker >= 0")
    args = [a for a in map(str, train_args) if not a.startswith("--num_gpus")]
    args.append(f"--num_gpus={max(gpus_per_worker, 1)}")
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}
    if gpus_per_worker:
        resources["limits"]["nvidia.com/gpu"] = gpus_per_worker
    container = {
        "name": CONTAINER_NAME,
        "image": image,
        "command": ["python", "-m", "components.train"],
        "args": args,
        "resources": resources,
        "env": [{"name": "EDU_MLM_NO_PROGRESS", "value": "1"}],
    }
    pod = {"containers": [container],
           # Time for the SIGTERM save of a BERT-base state before Kubernetes kills the pod.
           "terminationGracePeriodSeconds": termination_grace_seconds}
    if volume_claim:
        container["volumeMounts"] = [{"name": "work", "mountPath": mount_path}]
        pod["volumes"] = [{"name": "work",
                           "persistentVolumeClaim": {"claimName": volume_claim}}]
    metadata = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": TFJOB_API_VERSION,
        "kind": "TFJob",
        "metadata": metadata,
        "spec": {
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": backoff_limit},
            "tfReplicaSpecs": {
                "Worker": {
                    "replicas": workers,
                    "restartPolicy": "ExitCode",
                    "template": {"spec": pod},
                },
            },
        },
    }
