"""What the pipeline's extract task runs (a plain function; `spec.py` declares it and
`components/kfp/generated/extract.py`, written from that, wraps it for KFP)."""

from components.extract.arguments import ExtractArguments


def run_extract_task(corpus, metrics, args: ExtractArguments, input_files=""):
    """Passages from `source_url` + `query` (or comma-separated `input_files`) → a corpus."""
    from components.common.kfp_outputs import log_metrics, split_list
    from components.extract.corpus import extract_corpus

    log_metrics(metrics, extract_corpus(args.replace(output_dir=corpus.path,
                                                     input_file=split_list(input_files))))
