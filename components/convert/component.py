"""KFP component: Google-format TF checkpoint → transformers model + parity (converter image)."""

from kfp import dsl
from kfp.dsl import Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("convert"), install_kfp_package=False)
def convert(
    model: Input[Model],
    hf_model: Output[Model],
    parity: Output[Metrics],
):
    """Convert `model` to a transformers `save_pretrained` directory and measure TF↔torch parity."""
    from components.common.kfp_outputs import log_metrics
    from components.convert import convert as run_conversion

    result = run_conversion(tf_checkpoint_path=model.path, output_dir=hf_model.path)
    log_metrics(parity, result)
