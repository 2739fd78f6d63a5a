"""What the pipeline's extract task runs (plain functions; `component.py` wraps them for KFP)."""

from components.extract.arguments import ExtractArguments


def run_extract_task(corpus, metrics, input_files, **parameters):
    """Passages from `source_url` + `query` (or comma-separated `input_files`) → a corpus."""
    from components.common.kfp_outputs import log_metrics, split_list
    from components.extract.corpus import extract_corpus

    log_metrics(metrics, extract_corpus(ExtractArguments(
        output_dir=corpus.path, input_file=split_list(input_files),
        **ExtractArguments.unset_to_none(parameters))))
