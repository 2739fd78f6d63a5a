"""Masked-LM pretraining of a Google-format BERT: `train(input_dir, output_dir, ...)`."""


def train(input_dir, output_dir, **kwargs):
    """See `components.train.loop.train` (imported lazily: TensorFlow is heavy)."""
    from components.train.loop import train as run

    return run(input_dir, output_dir, **kwargs)


__all__ = ["train"]
