"""The model server's own parameters (KServe's, such as --http_port, come from its parser).

No onnxruntime or kserve here: the manifest writer and the tests read the declaration alone.
"""

from dataclasses import dataclass

from components.common.arguments import REQUIRED, Arguments, arg

MODEL_NAME = "edu-bert"


@dataclass
class ServeArguments(Arguments):
    model_dir: str = arg(
        REQUIRED, "the export stage's output directory: model.onnx (model.int8.onnx with "
        "--int8), tokenizer.json, config.json; on KServe the storage initializer's /mnt/models")
    int8: bool = arg(False, "serve model.int8.onnx (the dynamically quantized graph) instead "
                     "of model.onnx; it must be in --model_dir")
    max_batch_size: int = arg(32, "the most texts one request may carry; a larger request is "
                              "refused with 400 (split it)", low=1)
    max_sequence_length: int | None = arg(
        None, "the most tokens a text may have, [CLS] and [SEP] included; a longer text is "
        "refused with 400, never truncated (truncation could drop the [MASK] or change what "
        "the embedding means); default: config.json's max_position_embeddings", low=3)
    top_k: int = arg(5, "fill-mask candidates per [MASK] when a request does not say "
                     "(parameters.top_k)", low=1)
    num_threads: int = arg(0, "ONNX Runtime intra-op threads; 0 lets it choose (all the "
                           "host's cores: on Kubernetes set this to the pod's CPU limit)", low=0)
