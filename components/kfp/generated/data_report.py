"""KFP components of the data_report stage, written by `make generate` from
components/report/spec.py and the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Output

from components.images import image


@dsl.component(base_image=image("data_report"), install_kfp_package=False)
def data_report(
    corpus: Input[Dataset],
    pretraining_data: Input[Dataset],
    html: Output[HTML],
):
    """Passage and instance lengths, masked/[UNK]/padding fractions, rows dropped per reason."""
    from components.common.errors import recording_step_error
    from components.report.tasks import run_data_report_task

    with recording_step_error():
        run_data_report_task(
            corpus,
            pretraining_data,
            html,
        )
