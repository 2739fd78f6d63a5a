"""The model server for real: `python -m components.serve` (KServe's model server) started in a
subprocess on free loopback ports, asked over V1 and V2 REST (and V2 gRPC) for fill-mask and
embeddings of a tiny exported BERT, answers checked against the torch model it was exported
from; bad requests get a 4xx naming what to change and the server keeps serving; a bounded load
test at 1 and 8 concurrent clients loses no request. All traffic goes to 127.0.0.1; the server
is killed in teardown whatever happens."""

import concurrent.futures
import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import requests

from tests.helpers_serve import REPO_ROOT, export_tiny_bert, torch_reference

pytestmark = pytest.mark.slow

MAX_SEQUENCE_LENGTH = 24
MAX_BATCH_SIZE = 16
NAME = "edu-bert"
READY_SECONDS = 90
LOAD_REQUESTS = 200
LOAD_SECONDS = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    directory = tmp_path_factory.mktemp("export")
    return directory, export_tiny_bert(directory)


class Server:
    def __init__(self, process, port, grpc_port, log_path):
        self.process, self.grpc_port, self.log_path = process, grpc_port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.session = requests.Session()

    def post(self, path, body=None, data=None):
        headers = {"Content-Type": "application/json"}
        return self.session.post(self.url + path, json=body, data=data, headers=headers,
                                 timeout=30)

    def v1(self, instances, **parameters):
        return self.post(f"/v1/models/{NAME}:predict",
                         {"instances": instances, "parameters": parameters})

    def v2(self, texts, **parameters):
        return self.post(f"/v2/models/{NAME}/infer", {
            "inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES",
                        "data": texts}], "parameters": parameters})

    def log_tail(self):
        return self.log_path.read_text(errors="replace")[-3000:]


def start_server(model_dir, log_path, *extra):
    port, grpc_port = free_port(), free_port()
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "components.serve", "--model_dir", str(model_dir),
         "--model_name", NAME, "--http_port", str(port), "--grpc_port", str(grpc_port),
         "--max_sequence_length", str(MAX_SEQUENCE_LENGTH), "--max_batch_size",
         str(MAX_BATCH_SIZE), "--num_threads", "1", "--enable_latency_logging", "False",
         *extra], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    server = Server(process, port, grpc_port, log_path)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(server.url + "/v2/health/ready", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    stop_server(server)
    pytest.fail(f"the server was not ready in {READY_SECONDS} s:\n{server.log_tail()}")


def stop_server(server):
    server.session.close()
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)


@pytest.fixture(scope="module")
def server(exported, tmp_path_factory):
    started = start_server(exported[0], tmp_path_factory.mktemp("server") / "server.log")
    try:
        yield started
    finally:
        stop_server(started)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


TEXTS = ["今天[MASK]气很好", "学生在[MASK]室里读[MASK]。", "[MASK]"]


def test_fill_mask_v1_is_the_torch_models_top_k(server, exported):
    response = server.v1([TEXTS[0], {"text": TEXTS[1]}, TEXTS[2]], top_k=4)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    hidden, logits, mask, ids = torch_reference(exported[1], exported[0], TEXTS)
    for row, prediction in enumerate(predictions):
        assert prediction["text"] == TEXTS[row]
        positions = np.nonzero(ids[row] == VOCAB_TOKENS.index("[MASK]"))[0].tolist()
        assert [m["position"] for m in prediction["masks"]] == positions
        for answer in prediction["masks"]:
            probabilities = softmax(logits[row, answer["position"]].astype(np.float64))
            scores = [c["score"] for c in answer["candidates"]]
            assert len(scores) == 4 and scores == sorted(scores, reverse=True)
            np.testing.assert_allclose(scores, np.sort(probabilities)[::-1][:4], atol=1e-5)
            for candidate in answer["candidates"]:
                assert candidate["score"] == pytest.approx(
                    probabilities[candidate["token_id"]], abs=1e-5)
                assert candidate["token"] == VOCAB_TOKENS[candidate["token_id"]]


VOCAB_TOKENS = (REPO_ROOT / "data" / "sample" / "vocab.txt").read_text(
    encoding="utf-8").splitlines()


def test_fill_mask_v2_answers_one_row_per_mask(server):
    response = server.v2(TEXTS, top_k=3)
    assert response.status_code == 200, response.text
    body = response.json()
    outputs = {o["name"]: o for o in body["outputs"]}
    assert body["model_name"] == NAME and body["parameters"] == {"task": "fill-mask"}
    assert outputs["text_index"]["data"] == [0, 1, 1, 2]
    assert outputs["token"]["shape"] == outputs["score"]["shape"] == [4, 3]
    assert outputs["token"]["datatype"] == "BYTES" and outputs["score"]["datatype"] == "FP32"
    v1 = server.v1(TEXTS, top_k=3).json()["predictions"]
    rows = [m for p in v1 for m in p["masks"]]
    assert outputs["position"]["data"] == [m["position"] for m in rows]
    assert outputs["token_id"]["data"] == [c["token_id"] for m in rows for c in m["candidates"]]
    np.testing.assert_allclose(outputs["score"]["data"],
                               [c["score"] for m in rows for c in m["candidates"]], rtol=1e-6)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_embeddings_v1_and_v2_are_the_torch_models_pooled_states(server, exported, pooling):
    texts = ["今天天气很好", "学生"]
    hidden, _, mask, _ = torch_reference(exported[1], exported[0], texts)
    expected = (hidden[:, 0] if pooling == "cls" else
                (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True))
    v1 = server.v1(texts, task="embedding", pooling=pooling)
    assert v1.status_code == 200, v1.text
    assert [p["pooling"] for p in v1.json()["predictions"]] == [pooling, pooling]
    np.testing.assert_allclose([p["embedding"] for p in v1.json()["predictions"]], expected,
                               atol=1e-4)
    v2 = server.v2(texts, task="embedding", pooling=pooling)
    assert v2.status_code == 200, v2.text
    (output,) = v2.json()["outputs"]
    assert (output["name"], output["shape"], output["parameters"]) == (
        "embedding", [2, 32], {"pooling": pooling})
    np.testing.assert_allclose(np.reshape(output["data"], (2, 32)), expected, atol=1e-4)


def test_v2_over_grpc_answers_as_rest(server):
    import asyncio

    from kserve import InferenceGRPCClient, InferInput, InferRequest

    async def ask():
        client = InferenceGRPCClient(f"127.0.0.1:{server.grpc_port}", timeout=30)
        try:
            text = InferInput("text", [1], "BYTES", data=[TEXTS[0]])
            return await client.infer(InferRequest(model_name=NAME, infer_inputs=[text],
                                                   parameters={"top_k": 2}))
        finally:
            await client.close()

    grpc = {o.name: o.as_numpy().tolist() for o in asyncio.run(ask()).outputs}
    rest = {o["name"]: o["data"] for o in server.v2([TEXTS[0]], top_k=2).json()["outputs"]}
    assert np.ravel(grpc["token_id"]).tolist() == rest["token_id"]
    assert np.ravel(grpc["position"]).tolist() == rest["position"]


def v2_body(name="text", datatype="BYTES", shape=(1,), data=("今天[MASK]气",)):
    return {"inputs": [{"name": name, "datatype": datatype, "shape": list(shape),
                        "data": list(data)}]}


V1 = f"/v1/models/{NAME}:predict"
V2 = f"/v2/models/{NAME}/infer"
LONG = "天" * MAX_SEQUENCE_LENGTH + "[MASK]"
BAD_REQUESTS = {
    "malformed JSON": (V1, None, b'{"instances": ["a"', 400, "Unrecognized request format"),
    "no instances": (V1, {"texts": ["a"]}, None, 400, 'with "instances"'),
    "V2 body on V1": (V1, v2_body(), None, 400, "V2 requests go to /v2/models/NAME/infer"),
    "instance without text": (V1, {"instances": [{"txt": "a"}]}, None, 400,
                              'instance 0 has no "text"'),
    "instance not a text": (V1, {"instances": [3]}, None, 400, "instance 0 is not a text"),
    "no texts": (V1, {"instances": []}, None, 400, "no texts"),
    "empty text": (V1, {"instances": ["  "]}, None, 400, "text 0 is empty"),
    "no [MASK]": (V1, {"instances": ["今天天气"]}, None, 400, "text 0 has no [MASK]"),
    "too long": (V1, {"instances": ["好[MASK]", LONG]}, None, 400,
                 f"text 1 has {MAX_SEQUENCE_LENGTH + 3} tokens ([CLS] and [SEP] included), more "
                 f"than the server's --max_sequence_length {MAX_SEQUENCE_LENGTH}"),
    "too many texts": (V1, {"instances": ["[MASK]"] * (MAX_BATCH_SIZE + 1)}, None, 400,
                       f"more than the server's --max_batch_size {MAX_BATCH_SIZE}"),
    "unknown task": (V1, {"instances": ["a"], "parameters": {"task": "ner"}}, None, 400,
                     "unknown task 'ner'; parameters.task is one of fill-mask, embedding"),
    "bad top_k": (V1, {"instances": ["[MASK]"], "parameters": {"top_k": 0}}, None, 400,
                  "top_k must be a positive integer"),
    "unknown pooling": (V1, {"instances": ["a"], "parameters": {"task": "embedding",
                                                                "pooling": "max"}},
                        None, 400, "unknown pooling 'max'"),
    "unknown model": ("/v1/models/bert:predict", {"instances": ["[MASK]"]}, None, 404,
                      "bert"),
    "wrong protocol version": (f"/v3/models/{NAME}/infer", v2_body(), None, 404, "Not Found"),
    "V1 body on V2": (V2, {"instances": ["[MASK]"]}, None, 422, "inputs"),
    "V2 input misnamed": (V2, v2_body(name="texts"), None, 400, "one input named 'text'"),
    "V2 input not BYTES": (V2, v2_body(datatype="INT64", data=[3]), None, 400,
                           "must be BYTES"),
    "V2 shape not the data's": (V2, v2_body(shape=(2,)), None, 400, "must have shape [batch]"),
    "V2 empty text": (V2, v2_body(data=[""]), None, 400, "text 0 is empty"),
    "V2 too long": (V2, v2_body(data=[LONG]), None, 400, "--max_sequence_length"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_a_bad_request_is_a_4xx_naming_the_problem_and_the_server_keeps_serving(server, case):
    path, body, raw, status, message = BAD_REQUESTS[case]
    response = server.post(path, body, data=raw)
    assert response.status_code == status, response.text
    body = response.json()  # kserve's {"error": ...}, or FastAPI's {"detail": ...}
    assert message in (body["error"] if "error" in body else json.dumps(body["detail"]))
    good = server.v1([TEXTS[0]])
    assert good.status_code == 200 and len(good.json()["predictions"]) == 1


def run_load(server, clients):
    """LOAD_REQUESTS fill-mask requests from `clients` threads, each with its own connection;
    stops at LOAD_SECONDS whatever is left. Returns the latencies (s) of the good answers."""
    deadline = time.monotonic() + LOAD_SECONDS
    per_client = [LOAD_REQUESTS // clients + (i < LOAD_REQUESTS % clients)
                  for i in range(clients)]

    def client(count):
        latencies = []
        with requests.Session() as session:
            for i in range(count):
                if time.monotonic() > deadline:
                    break
                started = time.perf_counter()
                response = session.post(f"{server.url}{V1}", timeout=30, json={
                    "instances": [TEXTS[i % 2]], "parameters": {"top_k": 3}})
                if response.status_code == 200 and \
                        len(response.json()["predictions"][0]["masks"]) == i % 2 + 1:
                    latencies.append(time.perf_counter() - started)
        return latencies

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return [t for result in pool.map(client, per_client) for t in result]


@pytest.mark.parametrize("clients", [1, 8])
def test_load_loses_no_request(server, clients, capsys):
    started = time.perf_counter()
    latencies = run_load(server, clients)
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nload, {clients} concurrent client(s): {len(latencies)}/{LOAD_REQUESTS} answered "
              f"in {seconds:.1f} s ({len(latencies) / seconds:.0f} requests/s), latency p50 "
              f"{np.percentile(latencies, 50) * 1e3:.1f} ms, p99 "
              f"{np.percentile(latencies, 99) * 1e3:.1f} ms")
    assert len(latencies) == LOAD_REQUESTS
    assert server.process.poll() is None


def test_the_int8_graph_is_served_when_asked_by_several_worker_processes(exported, tmp_path):
    """--workers 2: KServe pickles the model into each uvicorn worker, which loads its own
    ONNX Runtime session (a session cannot be pickled)."""
    server = start_server(exported[0], tmp_path / "server.log", "--int8", "True",
                          "--workers", "2")
    try:
        for _ in range(8):
            response = server.v1([TEXTS[1]], top_k=2)
            assert response.status_code == 200, response.text
            assert len(response.json()["predictions"][0]["masks"]) == 2
        assert "model.int8.onnx (last_hidden_state, logits" in server.log_path.read_text()
    finally:
        stop_server(server)


@pytest.mark.parametrize("flags, message", [
    (["--int8", "True"], "the ONNX graph is missing ("),
    (["--max_sequence_length", "65"], "--max_sequence_length 65 is more than the model's 64 "
                                      "positions"),
])
def test_a_model_directory_it_cannot_serve_stops_it_in_one_line(exported, tmp_path, flags,
                                                                message):
    directory = tmp_path / "export"
    directory.mkdir()
    for name in ("model.onnx", "tokenizer.json", "config.json"):
        (directory / name).write_bytes((exported[0] / name).read_bytes())
    result = subprocess.run([sys.executable, "-m", "components.serve", "--model_dir",
                             str(directory), "--http_port", str(free_port()), *flags],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_an_encoder_only_export_answers_embeddings_and_refuses_fill_mask(tmp_path):
    """The export stage's --head encoder graph has no logits: the engine says so in one line."""
    from components.serve.engine import Engine, RequestError

    export_tiny_bert(tmp_path, head="encoder")
    engine = Engine(str(tmp_path))
    assert not engine.has_mlm_head and engine.max_sequence_length == 64
    assert engine.embed(["今天天气很好", "学生"], "mean").shape == (2, 32)
    with pytest.raises(RequestError, match=r"exported without the MLM head \(--head encoder\)"):
        engine.fill_mask(["今天[MASK]气"], 3)
