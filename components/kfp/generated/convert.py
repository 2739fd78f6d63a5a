"""KFP components of the convert stage, written by `make generate` from components/convert/spec.py
and the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("convert"), install_kfp_package=False)
def convert_base_model(
    model: Input[Model],
    pretraining_data: Input[Dataset],
    hf_model: Output[Model],
    parity: Output[Metrics],
):
    """Convert `model` to a transformers `save_pretrained` directory; check TF↔torch parity on
    held-out instances of `pretraining_data`."""
    from components.common.errors import recording_step_error
    from components.convert.arguments import ConvertArguments
    from components.convert.tasks import run_convert_task

    with recording_step_error():
        args = ConvertArguments.from_run_values()
        run_convert_task(
            model,
            pretraining_data,
            hf_model,
            parity,
            args,
        )


@dsl.component(base_image=image("convert"), install_kfp_package=False)
def convert_trained_model(
    model: Input[Model],
    pretraining_data: Input[Dataset],
    hf_model: Output[Model],
    parity: Output[Metrics],
):
    """Convert `model` to a transformers `save_pretrained` directory; check TF↔torch parity on
    held-out instances of `pretraining_data`."""
    from components.common.errors import recording_step_error
    from components.convert.arguments import ConvertArguments
    from components.convert.tasks import run_convert_task

    with recording_step_error():
        args = ConvertArguments.from_run_values()
        run_convert_task(
            model,
            pretraining_data,
            hf_model,
            parity,
            args,
        )
