"""KFP component: Google-format TF checkpoint → transformers model + parity (converter image)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("convert"), install_kfp_package=False)
def convert(
    model: Input[Model],
    pretraining_data: Input[Dataset],
    hf_model: Output[Model],
    parity: Output[Metrics],
):
    """Convert `model` to a transformers `save_pretrained` directory; check TF↔torch parity on
    held-out instances of `pretraining_data`."""
    from components.common.kfp_outputs import log_metrics
    from components.convert import convert as run_conversion

    result = run_conversion(tf_checkpoint_path=model.path, output_dir=hf_model.path,
                            parity_data=pretraining_data.path)
    log_metrics(parity, result)
