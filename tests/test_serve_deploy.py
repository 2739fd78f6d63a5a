"""What deploys the model server, without a cluster or an image build: the KServe
ServingRuntime + InferenceService YAML (parsed back), the server image's definition (hadolint,
pinned requirements, no torch or TensorFlow, a non-root user) and what the server's code
imports (only what that image holds)."""

import ast
import pathlib
import subprocess
import sys

import pytest
import yaml

from components.common.errors import UserError
from components.images import image_named
from components.pipeline import code
from components.serve.manifest import serving_objects, serving_yaml
from tests.test_images_static import constraints, requirement_names

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVER_DIR = REPO_ROOT / "images" / "server"
HADOLINT = pathlib.Path(sys.executable).parent / "hadolint"


def test_the_manifest_is_a_serving_runtime_and_an_inference_service_kserve_reads():
    image = image_named("server", "registry.example.com/ml", "abc123")
    text = serving_yaml("hdfs://nn:8020/runs/r1/export", image, model_name="edu-bert",
                        protocol="v1", cpu="1500m", memory="3Gi", int8=True,
                        max_sequence_length=128, max_replicas=4, namespace="ml")
    runtime, service = yaml.safe_load_all(text)
    assert (runtime["apiVersion"], runtime["kind"]) == ("serving.kserve.io/v1alpha1",
                                                        "ServingRuntime")
    assert (service["apiVersion"], service["kind"]) == ("serving.kserve.io/v1beta1",
                                                        "InferenceService")
    assert service["metadata"] == {"name": "edu-bert", "namespace": "ml"}
    (container,) = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == "registry.example.com/ml/edu-mlm-server:abc123"
    assert container["securityContext"]["runAsUser"] == 10001
    # The storage initializer's mount, KServe's own model-name template, one thread per whole
    # core of the limit (1500m: 1).
    assert container["args"] == ["--model_dir=/mnt/models", "--model_name={{.Name}}",
                                 "--http_port=8080", "--grpc_port=8081", "--int8=True",
                                 "--num_threads=1", "--max_sequence_length=128"]
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"] == "edu-bert-runtime"
    assert model["modelFormat"]["name"] == runtime["spec"]["supportedModelFormats"][0]["name"]
    assert model["protocolVersion"] == "v1" and "v1" in runtime["spec"]["protocolVersions"]
    assert model["storageUri"] == "hdfs://nn:8020/runs/r1/export"
    assert model["resources"]["limits"] == {"cpu": "1500m", "memory": "3Gi"}
    assert service["spec"]["predictor"]["maxReplicas"] == 4


def test_the_server_flags_in_the_manifest_are_the_servers():
    """Each flag the runtime passes is one `python -m components.serve` accepts."""
    from components.serve.__main__ import build_parser

    (runtime, _) = serving_objects("s3://b/export", "img", max_batch_size=8)
    args = runtime["spec"]["containers"][0]["args"]
    namespace = build_parser().parse_args(args)
    assert (namespace.model_dir, namespace.model_name, namespace.http_port, namespace.int8,
            namespace.max_batch_size, namespace.num_threads) == (
        "/mnt/models", "{{.Name}}", 8080, False, 8, 2)
    with pytest.raises(UserError, match=r"protocol 'v3' is not one of v1, v2 \(--protocol\)"):
        serving_objects("s3://b/export", "img", protocol="v3")
    with pytest.raises(UserError, match=r"CPU 'two' is not a Kubernetes CPU quantity \(--cpu\)"):
        serving_objects("s3://b/export", "img", cpu="two")


def test_the_server_dockerfile_is_hadolint_clean_and_runs_as_the_user():
    dockerfile = SERVER_DIR / "Dockerfile"
    result = subprocess.run([str(HADOLINT), str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert "USER 10001" in text and "--uid 10001" in text
    assert 'ENTRYPOINT ["python3", "-m", "components.serve"]' in text


def test_the_server_image_holds_kserve_and_onnxruntime_pinned_and_no_torch_or_tensorflow():
    names = requirement_names(SERVER_DIR / "requirements.txt")
    assert {"kserve", "onnxruntime", "tokenizers"} <= names
    assert not names & {"torch", "tensorflow", "tensorflow-cpu", "transformers"}
    assert names - set(constraints()) == set()


IMAGE_MODULES = {"kserve", "onnxruntime", "tokenizers", "numpy", "yaml"}


def test_the_server_imports_only_what_its_image_holds():
    """components.serve and what it imports in components/ (the image copies common and serve
    only) reach for no third-party module beyond IMAGE_MODULES, inside functions included."""
    graph = code.module_graph()
    todo = [m for m in graph if code.package_of(m) == "serve"]
    seen = set()
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    assert {code.package_of(m) for m in seen} <= {"serve", "common", ""}
    outside = set()
    for module in seen:
        path = REPO_ROOT.joinpath(*module.split("."))
        source = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                     else [])
            outside |= {n.split(".")[0] for n in names} - {"components"}
    assert outside - set(sys.stdlib_module_names) == IMAGE_MODULES
