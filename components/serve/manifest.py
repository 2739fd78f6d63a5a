"""The KServe objects that serve an exported model on a cluster: a ServingRuntime (the server
image and its flags) and an InferenceService (the model's storage URI, protocol, resources).

KServe's storage initializer copies `storage_uri` (s3://, gs://, hdfs://, pvc://…) into
/mnt/models before the server starts; the server reads it from there. The runtime is named
after the model and carries every server flag, so the InferenceService needs nothing merged.
"""

import yaml

from components.serve.arguments import MODEL_NAME

MODEL_FORMAT = "edu-mlm-onnx"
PROTOCOLS = ("v1", "v2")
MODEL_MOUNT = "/mnt/models"
HTTP_PORT = 8080
GRPC_PORT = 8081
SERVER_USER = 10001  # the image's USER


def serving_objects(storage_uri, image, model_name=MODEL_NAME, protocol="v2", cpu="2",
                    memory="2Gi", int8=False, max_batch_size=None, max_sequence_length=None,
                    min_replicas=1, max_replicas=1, namespace=None):
    """[ServingRuntime, InferenceService] as dicts. ONNX Runtime gets as many threads as the
    CPU limit allows (whole cores, at least one): its default, every core of the node, would
    oversubscribe a pod."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    threads = max(1, int(float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)))
    args = [f"--model_dir={MODEL_MOUNT}", "--model_name={{.Name}}", f"--http_port={HTTP_PORT}",
            f"--grpc_port={GRPC_PORT}", f"--int8={int8}", f"--num_threads={threads}"]
    # Unset: the server's own defaults (components/serve/arguments.py).
    if max_batch_size:
        args.append(f"--max_batch_size={max_batch_size}")
    if max_sequence_length:
        args.append(f"--max_sequence_length={max_sequence_length}")
    runtime_name = f"{model_name}-runtime"
    metadata = {"namespace": namespace} if namespace else {}
    runtime = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": {"name": runtime_name, **metadata},
        "spec": {
            "supportedModelFormats": [{"name": MODEL_FORMAT, "version": "1"}],
            "protocolVersions": ["v1", "v2", "grpc-v2"],
            "containers": [{
                "name": "kserve-container",
                "image": image,
                "args": args,
                "ports": [{"containerPort": HTTP_PORT, "protocol": "TCP"}],
                "securityContext": {"runAsNonRoot": True, "runAsUser": SERVER_USER,
                                    "allowPrivilegeEscalation": False},
            }],
        },
    }
    resources = {"cpu": cpu, "memory": memory}
    service = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": model_name, **metadata},
        "spec": {"predictor": {
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "model": {
                "modelFormat": {"name": MODEL_FORMAT},
                "runtime": runtime_name,
                "protocolVersion": protocol,
                "storageUri": storage_uri,
                "resources": {"requests": dict(resources), "limits": dict(resources)},
            },
        }},
    }
    return [runtime, service]


def serving_yaml(storage_uri, image, **options):
    """The two objects as one YAML stream, for `kubectl apply -f`."""
    return yaml.safe_dump_all(serving_objects(storage_uri, image, **options), sort_keys=False,
                              allow_unicode=True)
