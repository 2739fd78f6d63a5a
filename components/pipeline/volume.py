"""The checkpoint volume's one-time setup: the PersistentVolumeClaim and a Job that hands its root
to the user the images run as (`pipeline.py checkpoint-volume | kubectl apply -f -`).

Why a Job: a fresh volume's root is root:root 0755, the images run as uid 10001, and the KFP
drivers of Kubeflow 1.10 (2.4.1/2.5) set no pod `securityContext`/`fsGroup` (their
kfp-kubernetes proto has no field for it), so no pipeline task can be given the volume. The
train and distill tasks check at start and name this command when they cannot write there
(`run_state.check_state_dir_writable`).

Why ReadWriteMany by default: every run keeps its state in a sub-directory of the same claim,
so runs that overlap, and a retried pod that lands on another node, mount it while another pod
still has it; a ReadWriteOnce volume is attached to one node at a time, and such a pod waits in
ContainerCreating (Multi-Attach) until the other node lets go.
"""

TASK_UID = 10001  # the images' USER (images/*/Dockerfile)
MOUNT = "/volume"
ACCESS_MODES = ("ReadWriteMany", "ReadWriteOnce")


def claim_manifest(claim, size, access_mode, storage_class=None, namespace=None):
    spec = {"accessModes": [access_mode], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _metadata(claim, namespace), "spec": spec}


def chown_job_manifest(claim, image, pull_secrets=(), namespace=None):
    """A Job, run as root once, that gives the claim's root directory to TASK_UID (0775: the
    group may write too). Only the root: what the tasks write below it is theirs already."""
    script = (f"chown {TASK_UID}:{TASK_UID} {MOUNT} && chmod 0775 {MOUNT} "
              f"&& ls -ldn {MOUNT}")
    pod = {
        "restartPolicy": "Never",
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False},
        "containers": [{
            "name": "chown", "image": image, "command": ["sh", "-c", script],
            "volumeMounts": [{"name": "checkpoints", "mountPath": MOUNT}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "100m", "memory": "64Mi"}}}],
        "volumes": [{"name": "checkpoints", "persistentVolumeClaim": {"claimName": claim}}],
    }
    if pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in pull_secrets]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": _metadata(f"{claim}-chown"[:63], namespace),
        "spec": {"backoffLimit": 2, "ttlSecondsAfterFinished": 86400, "template": {
            # Kubeflow's profile namespaces inject an Istio sidecar, which would keep the pod,
            # and so the Job, running after the command ends.
            "metadata": {"annotations": {"sidecar.istio.io/inject": "false"}},
            "spec": pod}},
    }


def _metadata(name, namespace):
    metadata = {"name": name, "labels": {"app.kubernetes.io/part-of": "edu-mlm"}}
    if namespace:
        metadata["namespace"] = namespace
    return metadata
