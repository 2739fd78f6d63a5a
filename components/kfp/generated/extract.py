"""KFP components of the extract stage, written by `make generate` from components/extract/spec.py
and the declarations it names: edit those, not this file."""

from kfp import dsl
from kfp.dsl import Dataset, Metrics, Output

from components.images import image


@dsl.component(base_image=image("extract"), install_kfp_package=False)
def extract(
    corpus: Output[Dataset],
    metrics: Output[Metrics],
    source_url: str = "",
    query: str = "",
    text_column: str = "",
    input_files: str = "",
    min_chars: int = 10,
    normalize_punctuation: bool = True,
    limit: int = 0,
    max_bad_fraction: float = 0.01,
):
    """Passages from `source_url` + `query` (or comma-separated `input_files`) → a corpus."""
    from components.common.errors import recording_step_error
    from components.extract.arguments import ExtractArguments
    from components.extract.tasks import run_extract_task

    with recording_step_error():
        args = ExtractArguments.from_run_values(
            source_url=source_url,
            query=query,
            text_column=text_column,
            min_chars=min_chars,
            normalize_punctuation=normalize_punctuation,
            limit=limit,
            max_bad_fraction=max_bad_fraction,
        )
        run_extract_task(
            corpus,
            metrics,
            args,
            input_files=input_files,
        )
