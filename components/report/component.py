"""KFP components: the HTML/Markdown/Metrics artifacts the KFP UI renders for a run.

`data_report` runs right after data prep (dataprep image), so the data statistics are visible
while the trainer runs; `report` runs last (converter image: it loads both transformers models
for the fill-mask examples).
"""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

from components.images import image


@dsl.component(base_image=image("data_report"), install_kfp_package=False)
def data_report(
    corpus: Input[Dataset],
    pretraining_data: Input[Dataset],
    html: Output[HTML],
):
    """Passage and instance lengths, masked/[UNK]/padding fractions, rows dropped per reason."""
    from components.report import write_data_report

    write_data_report(corpus_dir=corpus.path, pretraining_data_dir=pretraining_data.path,
                      output_file=html.path)


@dsl.component(base_image=image("report"), install_kfp_package=False)
def report(
    pretraining_data: Input[Dataset],
    data_metrics: Input[Metrics],
    model: Input[Model],
    train_metrics: Input[Metrics],
    base_eval: Input[Metrics],
    trained_eval: Input[Metrics],
    base_hf_model: Input[Model],
    hf_model: Input[Model],
    parity: Input[Metrics],
    base_parity: Input[Metrics],
    html: Output[HTML],
    summary: Output[Markdown],
    metrics: Output[Metrics],
    fill_mask_examples: int = 8,
):
    """Training curves, held-out before/after, fill-mask examples, parity; Markdown summary."""
    from components.common.kfp_outputs import log_metrics
    from components.report import write_model_report

    values = write_model_report(
        pretraining_data_dir=pretraining_data.path,
        data_metrics=dict(data_metrics.metadata),
        trained_model_dir=model.path,
        train_metrics=dict(train_metrics.metadata),
        base_eval=dict(base_eval.metadata),
        trained_eval=dict(trained_eval.metadata),
        base_hf_model_dir=base_hf_model.path,
        hf_model_dir=hf_model.path,
        parity=dict(parity.metadata),
        base_parity=dict(base_parity.metadata),
        html_file=html.path,
        markdown_file=summary.path,
        fill_mask_examples=fill_mask_examples,
    )
    log_metrics(metrics, values)
