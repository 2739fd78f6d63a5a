"""KFP components of the downstream stage, written by `make generate` from
components/downstream/spec.py and the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("downstream"), install_kfp_package=False)
def downstream(
    base_model: Input[Model],
    teacher: Input[Model],
    student: Input[Model],
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
    train_file: str = "",
    eval_file: str = "",
    source_url: str = "",
    query: str = "",
    eval_query: str = "",
    batch_size: int = 1000,
    eval_fraction: float = 0.2,
    text_column: str = "text",
    text_pair_column: str = "",
    label_column: str = "label",
    max_train_examples: int = 0,
    max_train_examples_per_class: int = 0,
    max_eval_examples: int = 0,
    seeds: str = "1,2,3",
    num_train_epochs: float = 3.0,
    learning_rate: float = 2e-05,
    train_batch_size: int = 32,
    max_seq_length: int = 128,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    eval_batch_size: int = 32,
    precision: str = "auto",
):
    """Fine-tune `base_model`, `teacher` and `student` on the labelled rows with one recipe and
    seeds; compare them."""
    from components.common.errors import recording_step_error
    from components.downstream.arguments import FineTuneArguments
    from components.downstream.tasks import run_downstream_task

    with recording_step_error():
        args = FineTuneArguments.from_run_values(
            train_file=train_file,
            eval_file=eval_file,
            source_url=source_url,
            query=query,
            eval_query=eval_query,
            batch_size=batch_size,
            eval_fraction=eval_fraction,
            text_column=text_column,
            text_pair_column=text_pair_column,
            label_column=label_column,
            max_train_examples=max_train_examples,
            max_train_examples_per_class=max_train_examples_per_class,
            max_eval_examples=max_eval_examples,
            seeds=seeds,
            num_train_epochs=num_train_epochs,
            learning_rate=learning_rate,
            train_batch_size=train_batch_size,
            max_seq_length=max_seq_length,
            warmup_ratio=warmup_ratio,
            weight_decay=weight_decay,
            max_grad_norm=max_grad_norm,
            eval_batch_size=eval_batch_size,
            precision=precision,
        )
        run_downstream_task(
            base_model,
            teacher,
            student,
            evaluation,
            metrics,
            args,
        )
