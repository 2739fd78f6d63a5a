"""The exported model behind KServe's Python model server (V1 and V2 inference protocols).

`engine`: the ONNX graph, the tokenizer, fill-mask and embedding on numpy (onnxruntime and
tokenizers only: the server image has neither torch nor TensorFlow). `predictor`: the KServe
`Model` reading V1 and V2 requests into the engine's calls and its answers back. `manifest`: the
KServe ServingRuntime and InferenceService for a cluster. `python -m components.serve` starts it.
"""
