"""The KServe objects that serve an exported model on a cluster: a ServingRuntime (the server
image and its flags) and an InferenceService (the model's storage URI, protocol, resources).

KServe's storage initializer copies `storage_uri` (s3://, gs://, hdfs://, pvc://…) into
/mnt/models before the server starts; the server reads it from there. The runtime is named
after the model and carries every server flag, so the InferenceService needs nothing merged.
"""

import sys

import yaml

from components.common.artifacts import write_text_atomic
from components.common.errors import UserError
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
        raise UserError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}",
                        where="--protocol", fix="pick one of them")
    try:
        cores = float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    except ValueError:
        cores = 0
    if cores <= 0:
        raise UserError(f"CPU {cpu!r} is not a Kubernetes CPU quantity", where="--cpu",
                        fix="pass cores (2, 0.5) or millicores (1500m)")
    threads = max(1, int(cores))
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


def add_arguments(parser):
    """The flags of `pipeline.py serve-manifest` (its image default is the caller's)."""
    parser.add_argument("--storage-uri", required=True,
                        help="the export step's output directory as KServe's storage "
                        "initializer reads it: s3://, gs://, hdfs://, pvc://CLAIM/PATH, ...")
    parser.add_argument("--model-name", default=MODEL_NAME,
                        help="the InferenceService's name, the NAME of /v1/models/NAME")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="v2",
                        help="the InferenceService's protocolVersion (the server answers both)")
    parser.add_argument("--int8", action="store_true",
                        help="serve model.int8.onnx (an export made with --quantize int8)")
    parser.add_argument("--cpu", default="2", help="CPU request and limit of a replica; its "
                        "whole cores are ONNX Runtime's threads")
    parser.add_argument("--memory", default="2Gi", help="memory request and limit of a replica")
    parser.add_argument("--max-replicas", type=int, default=1,
                        help="KServe scales a replica up to this many")
    parser.add_argument("--max-sequence-length", type=int, default=None,
                        help="the most tokens a text may have (default: the model's positions)")
    parser.add_argument("--namespace", default=None,
                        help="Kubernetes namespace (default: kubectl's)")
    parser.add_argument("--image", default=None,
                        help="the server image (default: REGISTRY/edu-mlm-server:TAG from "
                        "--registry and --tag, as `make images` names it)")
    parser.add_argument("--registry", default=None,
                        help="image registry (default: $EDU_MLM_REGISTRY or ghcr.io/edu-mlm)")
    parser.add_argument("--tag", default=None,
                        help="image tag (default: $EDU_MLM_TAG, else the code's, as `make "
                        "images` tags it)")
    parser.add_argument("--output", default="-",
                        help="where to write the manifests (- = stdout); a rerun replaces it")


def write(args, image):
    """Write (or print) the manifests `add_arguments`' flags ask for."""
    text = serving_yaml(args.storage_uri, image, model_name=args.model_name,
                        protocol=args.protocol, cpu=args.cpu, memory=args.memory,
                        int8=args.int8, max_sequence_length=args.max_sequence_length,
                        max_replicas=args.max_replicas, namespace=args.namespace)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        write_text_atomic(args.output, text)
        print(f"wrote {args.output} (apply it with: kubectl apply -f {args.output})")
