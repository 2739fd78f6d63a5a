"""Google checkpoint names → transformers `BertForPreTraining` state-dict keys.

transformers 5 dropped its TensorFlow loading code, so the mapping is ours. It is a handful of
textual rules applied in order; dense kernels are stored [in, out] by TensorFlow and
[out, in] by torch.nn.Linear, so they are transposed. The decoder weight is not in Google's
checkpoint: transformers ties it to the word embeddings.
"""

import re

import numpy as np

# (pattern, replacement), applied in order to a Google name.
RULES = [
    (r"^cls/predictions/output_bias$", "cls.predictions.bias"),
    (r"^cls/seq_relationship/output_weights$", "cls.seq_relationship.weight"),
    (r"^cls/seq_relationship/output_bias$", "cls.seq_relationship.bias"),
    (r"/layer_(\d+)/", r"/layer/\1/"),
    (r"/(word|position|token_type)_embeddings$", r"/\1_embeddings/weight"),
    (r"/LayerNorm/gamma$", "/LayerNorm/weight"),
    (r"/LayerNorm/beta$", "/LayerNorm/bias"),
    (r"/kernel$", "/weight"),
    (r"/", "."),
]


def torch_name(google_name):
    """`bert/encoder/layer_0/attention/self/query/kernel` → `bert.encoder.layer.0....weight`."""
    name = google_name
    for pattern, replacement in RULES:
        name = re.sub(pattern, replacement, name)
    return name


def torch_value(google_name, value):
    """The array as torch stores it: dense kernels transposed, everything else as is."""
    value = np.asarray(value, dtype=np.float32)
    if google_name.endswith("/kernel"):
        value = value.T
    return np.ascontiguousarray(value)


def torch_state_dict(google_weights):
    """{Google name: array} → {BertForPreTraining key: float32 array}."""
    return {torch_name(name): torch_value(name, value) for name, value in google_weights.items()}
