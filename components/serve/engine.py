"""The exported BERT on ONNX Runtime: tokenize, run the graph, answer fill-mask and embedding.

Reads the export stage's directory: model.onnx (inputs input_ids, attention_mask and
token_type_ids, int64 [batch, sequence]; outputs last_hidden_state and, with the MLM head,
logits), model.int8.onnx, tokenizer.json and config.json. Texts are padded to the longest in
the batch, never truncated: a text longer than the limit is the caller's error (`RequestError`).
"""

import json
import logging
import os

import numpy as np

from components.common.errors import UserError

log = logging.getLogger("components.serve")

TASKS = ("fill-mask", "embedding")
# mean: the attention-masked average of the last hidden states, [CLS] and [SEP] included (an
# MLM-trained BERT's [CLS] was never trained as a sentence summary); cls: the [CLS] state.
POOLINGS = ("mean", "cls")


class RequestError(ValueError):
    """A request the model cannot answer as sent (the server answers 400 with the message)."""


class Engine:
    """One ONNX Runtime session and the tokenizer of an exported model directory."""

    def __init__(self, model_dir, int8=False, num_threads=0, max_sequence_length=None):
        import onnxruntime
        from tokenizers import Tokenizer

        graph = os.path.join(model_dir, "model.int8.onnx" if int8 else "model.onnx")
        for path, what in ((graph, "the ONNX graph"),
                           (os.path.join(model_dir, "tokenizer.json"), "the tokenizer"),
                           (os.path.join(model_dir, "config.json"), "the model config")):
            if not os.path.isfile(path):
                fix = ("export with --quantize int8, or serve without --int8" if int8 and
                       path == graph else "pass the export stage's output directory")
                raise UserError(f"{what} is missing", where=path, fix=fix)
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            positions = json.load(f).get("max_position_embeddings", 512)
        self.max_sequence_length = max_sequence_length or positions
        if self.max_sequence_length > positions:
            raise UserError(f"--max_sequence_length {self.max_sequence_length} is more than the "
                            f"model's {positions} positions", where="config.json",
                            fix=f"pass at most {positions}")

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        self.session = onnxruntime.InferenceSession(graph, options,
                                                    providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]
        if "last_hidden_state" not in self.output_names or "input_ids" not in self.input_names:
            raise UserError("the graph is not the export stage's (no input_ids input or no "
                            "last_hidden_state output)", where=graph,
                            fix="pass the export stage's output directory")
        self.has_mlm_head = "logits" in self.output_names
        self.hidden_size = self.session.get_outputs()[
            self.output_names.index("last_hidden_state")].shape[-1]
        self.graph = os.path.basename(graph)

        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.mask_id = self.tokenizer.token_to_id("[MASK]")
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        if self.has_mlm_head and self.mask_id is None:
            raise UserError("the tokenizer has no [MASK] token",
                            where=os.path.join(model_dir, "tokenizer.json"),
                            fix="export the model with its own tokenizer files")
        log.info("loaded %s (%s, MLM head: %s), at most %d tokens a text", graph,
                 ", ".join(self.output_names), self.has_mlm_head, self.max_sequence_length)

    def encode(self, texts):
        """Token ids [batch, longest] padded, and the attention mask; RequestError for a text
        that is empty or longer than the limit."""
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise RequestError(f"text {i} is empty or not a string; send non-empty text")
        encodings = self.tokenizer.encode_batch(list(texts))
        too_long = [(i, len(e.ids)) for i, e in enumerate(encodings)
                    if len(e.ids) > self.max_sequence_length]
        if too_long:
            i, n = too_long[0]
            raise RequestError(f"text {i} has {n} tokens ([CLS] and [SEP] included), more than "
                               f"the server's --max_sequence_length {self.max_sequence_length}; "
                               "shorten or split it")
        longest = max(len(e.ids) for e in encodings)
        ids = np.full((len(texts), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, :len(encoding.ids)] = encoding.ids
            mask[row, :len(encoding.ids)] = 1
        return ids, mask

    def run(self, ids, mask, outputs):
        feed = {"input_ids": ids, "attention_mask": mask,
                "token_type_ids": np.zeros_like(ids)}
        return self.session.run(outputs, {k: v for k, v in feed.items() if k in self.input_names})

    def fill_mask(self, texts, top_k):
        """Per text, per [MASK] in it (in order): its position and the top_k (token, id,
        probability) by the MLM head's softmax."""
        if not self.has_mlm_head:
            raise RequestError("this model was exported without the MLM head (--head encoder): "
                               "it answers embedding requests only")
        ids, mask = self.encode(texts)
        rows, positions = np.nonzero(ids == self.mask_id)
        missing = sorted(set(range(len(texts))) - set(rows.tolist()))
        if missing:
            raise RequestError(f"text {missing[0]} has no [MASK]; a fill-mask request needs at "
                               "least one in every text (or ask for task embedding)")
        (logits,) = self.run(ids, mask, ["logits"])
        picked = logits[rows, positions].astype(np.float64)
        probabilities = np.exp(picked - picked.max(axis=-1, keepdims=True))
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        k = min(top_k, probabilities.shape[-1])
        best = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
        scores = np.take_along_axis(probabilities, best, -1)
        answers = [[] for _ in texts]
        for row, position, token_ids, p in zip(rows, positions, best, scores, strict=True):
            answers[row].append({
                "position": int(position),
                "candidates": [{"token": self.tokenizer.id_to_token(int(t)), "token_id": int(t),
                                "score": float(s)} for t, s in zip(token_ids, p, strict=True)]})
        return answers

    def embed(self, texts, pooling):
        """[batch, hidden] float32 sentence embeddings (POOLINGS says how)."""
        ids, mask = self.encode(texts)
        (hidden,) = self.run(ids, mask, ["last_hidden_state"])
        if pooling == "cls":
            return hidden[:, 0].astype(np.float32)
        weights = mask[..., None].astype(np.float32)
        return ((hidden * weights).sum(axis=1) / weights.sum(axis=1)).astype(np.float32)
