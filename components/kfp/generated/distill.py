"""KFP components of the distill stage, written by `make generate` from components/distill/spec.py
and the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("distill"), install_kfp_package=False)
def distill(
    teacher: Input[Model],
    pretraining_data: Input[Dataset],
    student: Output[Model],
    metrics: Output[Metrics],
    num_train_steps: int = 10000,
    num_warmup_steps: int = 1000,
    train_batch_size: int = 32,
    learning_rate: float = 0.0001,
    save_checkpoints_steps: int = 1000,
    log_every_n_steps: int = 100,
    student_num_hidden_layers: int = 4,
    student_hidden_size: int = 0,
    student_num_attention_heads: int = 0,
    student_intermediate_size: int = 0,
    temperature: float = 1.0,
    kd_weight: float = 1.0,
    hard_weight: float = 0.0,
    hidden_weight: float = 1.0,
    attention_weight: float = 0.0,
    gradient_accumulation_steps: int = 1,
    max_eval_examples: int = 0,
    num_gpus: int = 0,
    checkpoint_root: str = "",
):
    """Distil `teacher` on the train split of `pretraining_data` into a small `student`; compare
    them on the held-out split."""
    from components.common.errors import recording_step_error
    from components.distill.arguments import DistillArguments
    from components.distill.tasks import run_distill_task

    with recording_step_error():
        # num_train_steps 0: the run skips this stage.
        args = None
        if num_train_steps != 0:
            args = DistillArguments.from_run_values(
                num_train_steps=num_train_steps,
                num_warmup_steps=num_warmup_steps,
                train_batch_size=train_batch_size,
                learning_rate=learning_rate,
                save_checkpoints_steps=save_checkpoints_steps,
                log_every_n_steps=log_every_n_steps,
                student_num_hidden_layers=student_num_hidden_layers,
                student_hidden_size=student_hidden_size,
                student_num_attention_heads=student_num_attention_heads,
                student_intermediate_size=student_intermediate_size,
                temperature=temperature,
                kd_weight=kd_weight,
                hard_weight=hard_weight,
                hidden_weight=hidden_weight,
                attention_weight=attention_weight,
                gradient_accumulation_steps=gradient_accumulation_steps,
                max_eval_examples=max_eval_examples,
            )
        run_distill_task(
            teacher,
            pretraining_data,
            student,
            metrics,
            args,
            num_gpus=num_gpus,
            checkpoint_root=checkpoint_root,
        )
