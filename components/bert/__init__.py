"""The one BERT: Google's config, model and checkpoint format in TensorFlow 2.

Library entry point: `init_random_model` (from `components.bert.init`). The trainer, evaluator
and converter use `components.bert.model` (`BertForPreTraining`) and `components.bert.checkpoint`
(`load_model`, `write_model_dir`, ...).
"""

__all__ = ["init_random_model"]


def __getattr__(name):
    # Resolved on first use, so `python -m components.bert.init` does not import its own module
    # twice (runpy warns about that) and importing the package stays cheap.
    if name == "init_random_model":
        from components.bert.init import init_random_model
        return init_random_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
