"""The KServe model: V1 and V2 requests in, the engine's answers out.

V1 (`POST /v1/models/NAME:predict`):
    {"instances": ["今天[MASK]气很好", {"text": "..."}], "parameters": {"task": "fill-mask",
     "top_k": 5}}
    -> {"predictions": [{"text": ..., "masks": [{"position": 3, "candidates": [{"token": "天",
        "token_id": 1921, "score": 0.41}, ...]}]}, ...]}
    with "task": "embedding" (and "pooling": "mean" or "cls"):
    -> {"predictions": [{"text": ..., "embedding": [...], "pooling": "mean"}, ...]}
V2 (`POST /v2/models/NAME/infer`): one BYTES input "text" of shape [batch], the same
"parameters". Fill-mask answers one row per [MASK] in the batch: "text_index" and "position"
INT64 [masks], "token" BYTES, "token_id" INT64 and "score" FP32 [masks, top_k]; embedding
answers "embedding" FP32 [batch, hidden] (its parameters name the pooling).
A request the model cannot answer is a 400 naming what to change (kserve's InvalidInput).
"""

import asyncio
import logging

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.errors import InvalidInput
from kserve.utils.utils import generate_uuid

from components.serve.engine import POOLINGS, TASKS, Engine, RequestError

log = logging.getLogger("components.serve")
TEXT_INPUT = "text"


class EduBertModel(Model):
    """Fill-mask and sentence embeddings of the exported BERT, over V1, V2 (REST and gRPC)."""

    def __init__(self, name, arguments):
        super().__init__(name)
        self.arguments = arguments
        self.engine = None

    def load(self):
        a = self.arguments
        self.engine = Engine(a.model_dir, int8=a.int8, num_threads=a.num_threads,
                             max_sequence_length=a.max_sequence_length)
        self.ready = True
        return self.ready

    # With --workers N KServe hands the model to each uvicorn worker process by pickling it; an
    # ONNX Runtime session cannot be pickled, so each worker loads its own.
    def __getstate__(self):
        return {**self.__dict__, "engine": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.ready:
            self.load()

    def get_input_types(self):
        return [{"name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self):
        masks = [{"name": n, "datatype": t, "shape": [-1] if n in ("text_index", "position")
                  else [-1, -1]} for n, t in (("text_index", "INT64"), ("position", "INT64"),
                                              ("token", "BYTES"), ("token_id", "INT64"),
                                              ("score", "FP32"))]
        embedding = [{"name": "embedding", "datatype": "FP32",
                      "shape": [-1, self.engine.hidden_size if self.engine else -1]}]
        return (masks if self.engine is None or self.engine.has_mlm_head else []) + embedding

    async def predict(self, payload, headers=None, response_headers=None):
        v2 = isinstance(payload, InferRequest)
        texts, parameters = v2_texts(payload) if v2 else v1_texts(payload)
        task, top_k, pooling = self.read_parameters(parameters, len(texts))
        # onnxruntime releases the GIL: the event loop keeps answering (health, other requests).
        loop = asyncio.get_running_loop()
        try:
            if task == "fill-mask":
                answers = await loop.run_in_executor(None, self.engine.fill_mask, texts, top_k)
            else:
                answers = await loop.run_in_executor(None, self.engine.embed, texts, pooling)
        except RequestError as err:
            raise InvalidInput(str(err)) from err
        if not v2:
            return {"predictions": v1_predictions(task, texts, answers, pooling)}
        outputs = (v2_fill_mask(answers, top_k) if task == "fill-mask"
                   else v2_embedding(answers, pooling))
        return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name,
                             infer_outputs=outputs, parameters={"task": task},
                             from_grpc=payload.from_grpc)

    def read_parameters(self, parameters, batch):
        if not isinstance(parameters, dict):
            raise InvalidInput('"parameters" must be an object, e.g. {"task": "fill-mask"}')
        task = parameters.get("task", "fill-mask")
        pooling = parameters.get("pooling", POOLINGS[0])
        top_k = parameters.get("top_k", self.arguments.top_k)
        if task not in TASKS:
            raise InvalidInput(f"unknown task {task!r}; parameters.task is one of "
                               f"{', '.join(TASKS)}")
        if pooling not in POOLINGS:
            raise InvalidInput(f"unknown pooling {pooling!r}; parameters.pooling is one of "
                               f"{', '.join(POOLINGS)}")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InvalidInput(f"parameters.top_k must be a positive integer, not {top_k!r}")
        if batch == 0:
            raise InvalidInput("the request has no texts; send at least one")
        if batch > self.arguments.max_batch_size:
            raise InvalidInput(f"the request has {batch} texts, more than the server's "
                               f"--max_batch_size {self.arguments.max_batch_size}; split it")
        return task, top_k, pooling


def plain_parameters(parameters):
    """V2 parameters as plain values (gRPC's arrive as InferParameter messages)."""
    return {k: getattr(v, v.WhichOneof("parameter_choice")) if hasattr(v, "WhichOneof") else v
            for k, v in (parameters or {}).items()}


def v1_texts(payload):
    if not isinstance(payload, dict) or "instances" not in payload:
        raise InvalidInput('a V1 request is a JSON object with "instances": a list of texts '
                           '(strings or {"text": ...}); V2 requests go to /v2/models/NAME/infer')
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise InvalidInput('"instances" must be a list of texts')
    texts = []
    for i, instance in enumerate(instances):
        if isinstance(instance, dict):
            if "text" not in instance:
                raise InvalidInput(f'instance {i} has no "text" field')
            instance = instance["text"]
        if not isinstance(instance, str):
            raise InvalidInput(f"instance {i} is not a text (a string or {{\"text\": ...}})")
        texts.append(instance)
    return texts, payload.get("parameters", {})


def v2_texts(request):
    text = request.get_input_by_name(TEXT_INPUT)
    if text is None or len(request.inputs) != 1:
        names = ", ".join(repr(i.name) for i in request.inputs) or "none"
        raise InvalidInput(f"a V2 request has one input named {TEXT_INPUT!r} (BYTES, shape "
                           f"[batch]); this one has {names}")
    if text.datatype != "BYTES":
        raise InvalidInput(f"input {TEXT_INPUT!r} must be BYTES (UTF-8 texts), not "
                           f"{text.datatype}")
    data = text.as_numpy() if text.data is None else np.asarray(text.data, dtype=object)
    if list(data.shape) != [len(data.reshape(-1))] or list(text.shape) != [data.size]:
        raise InvalidInput(f"input {TEXT_INPUT!r} must have shape [batch] matching its data, "
                           f"not {list(text.shape)} with {data.size} values")
    texts = [v.decode("utf-8") if isinstance(v, bytes) else v for v in data.reshape(-1)]
    return texts, plain_parameters(request.parameters)


def v1_predictions(task, texts, answers, pooling):
    if task == "fill-mask":
        return [{"text": t, "masks": masks} for t, masks in zip(texts, answers, strict=True)]
    return [{"text": t, "embedding": e.tolist(), "pooling": pooling}
            for t, e in zip(texts, answers, strict=True)]


def v2_fill_mask(answers, top_k):
    rows = [(i, mask) for i, masks in enumerate(answers) for mask in masks]
    k = len(rows[0][1]["candidates"]) if rows else top_k

    def tensor(name, datatype, values, shape):
        return InferOutput(name=name, datatype=datatype, shape=shape, data=values)

    candidates = [c for _, mask in rows for c in mask["candidates"]]
    return [tensor("text_index", "INT64", [i for i, _ in rows], [len(rows)]),
            tensor("position", "INT64", [m["position"] for _, m in rows], [len(rows)]),
            tensor("token", "BYTES", [c["token"] for c in candidates], [len(rows), k]),
            tensor("token_id", "INT64", [c["token_id"] for c in candidates], [len(rows), k]),
            tensor("score", "FP32", [c["score"] for c in candidates], [len(rows), k])]


def v2_embedding(embeddings, pooling):
    return [InferOutput(name="embedding", datatype="FP32", shape=list(embeddings.shape),
                        data=embeddings.reshape(-1).tolist(), parameters={"pooling": pooling})]
