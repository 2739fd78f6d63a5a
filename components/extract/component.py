"""KFP component: SQL (Hive/SQLAlchemy) or text files → clean corpus (dataprep image).

Credentials never pass through here: the pipeline maps a Kubernetes Secret to environment
variables (`kfp.kubernetes.use_secret_as_env`), which the extract library reads.
"""

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
    from components.common.kfp_outputs import log_metrics, split_list
    from components.extract import extract_corpus

    manifest = extract_corpus(
        output_dir=corpus.path,
        source_url=source_url or None,
        query=query or None,
        text_column=text_column or None,
        input_files=split_list(input_files),
        min_chars=min_chars,
        normalize_punctuation=normalize_punctuation,
        limit=limit or None,
        max_bad_fraction=max_bad_fraction,
    )
    log_metrics(metrics, manifest)
