"""Google-format TF BERT → transformers directory (+ legacy pytorch_model.bin), parity-checked.

Importing this package is cheap; TensorFlow, torch and transformers load inside `convert`.
"""

from components.convert.core import convert

__all__ = ["convert"]
