"""Held-out masked-LM metrics of a Google-format BERT: `evaluate(input_dir, init_checkpoint)`."""


def evaluate(input_dir, init_checkpoint, **kwargs):
    """See `components.evaluate.heldout.evaluate` (imported lazily: TensorFlow is heavy)."""
    from components.evaluate.heldout import evaluate as run

    return run(input_dir, init_checkpoint, **kwargs)


__all__ = ["evaluate"]
