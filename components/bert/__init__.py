"""The one BERT: Google's config, model and checkpoint format in TensorFlow 2.

Importing this package is cheap; TensorFlow loads when a model is built. Library entry point:
`init_random_model`. The trainer, evaluator and converter use `components.bert.model`
(`BertForPreTraining`) and `components.bert.checkpoint` (`load_model`, `write_model_dir`, ...).
"""

from components.bert.init import init_random_model

__all__ = ["init_random_model"]
