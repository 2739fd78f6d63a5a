"""KFP component: Google-format TF checkpoint → transformers model + parity (converter image)."""

from kfp.dsl import Dataset, Metrics, Model

from components.common.kfp_component import component
from components.convert import tasks


def convert_component(name="convert"):
    """The convert component, its tasks named after `name` (the pipeline converts two models
    and names each task for what it converts)."""
    return component(
        name, tasks.run_convert_task, "convert", [],
        inputs={"model": Model, "pretraining_data": Dataset},
        outputs={"hf_model": Model, "parity": Metrics},
        doc="Convert `model` to a transformers `save_pretrained` directory; check TF↔torch "
            "parity on held-out instances of `pretraining_data`.")
