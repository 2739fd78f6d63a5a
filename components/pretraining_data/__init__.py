"""Pretraining data: corpus + vocab.txt → masked-LM TFRecords in Google's schema."""


def create_pretraining_data(*args, **kwargs):
    """See `components.pretraining_data.create.create_pretraining_data`."""
    from components.pretraining_data.create import create_pretraining_data as create

    return create(*args, **kwargs)


def merge_pretraining_data(*args, **kwargs):
    """See `components.pretraining_data.merge.merge_pretraining_data`."""
    from components.pretraining_data.merge import merge_pretraining_data as merge

    return merge(*args, **kwargs)


__all__ = ["create_pretraining_data", "merge_pretraining_data"]
