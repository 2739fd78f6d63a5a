"""Google-format TF BERT → transformers directory (+ legacy pytorch_model.bin), parity-checked.

`core.convert(ConvertArguments(...))`; TensorFlow, torch and transformers load inside it.
"""
