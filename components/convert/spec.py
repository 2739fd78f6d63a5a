"""The convert stage as the pipeline sees it (`components.common.stage_spec`): Google-format TF
checkpoint → transformers model + parity (converter image), for the base and the trained model,
one task each."""

from components.common.stage_spec import Pod, StageSpec, TaskSpec
from components.convert import tasks
from components.convert.arguments import ConvertArguments

CONVERT = StageSpec(
    name="convert", image="converter", package="convert", order=60,
    doc="The base and the trained model as transformers models, with TF↔torch parity.",
    tasks=(TaskSpec(
        "convert_base_model", tasks.run_convert_task,
        "Convert `model` to a transformers `save_pretrained` directory; check TF↔torch "
        "parity on held-out instances of `pretraining_data`.",
        inputs={"model": "Model", "pretraining_data": "Dataset"},
        outputs={"hf_model": "Model", "parity": "Metrics"}, arguments=ConvertArguments,
        copies=("convert_trained_model",)),),
    reads={"convert_base_model": {"model": "base_model", "pretraining_data": "pretraining_data"},
           "convert_trained_model": {"model": "model", "pretraining_data": "pretraining_data"}},
    makes={"base_hf_model": ("convert_base_model", "hf_model"),
           "base_parity": ("convert_base_model", "parity"),
           "hf_model": ("convert_trained_model", "hf_model"),
           "parity": ("convert_trained_model", "parity")},
    pod=Pod(cpu="4", memory="16G"),
    clis={("components.convert", None): ConvertArguments},
)
