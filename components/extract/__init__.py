"""extract: a SQL query (SQLAlchemy URL, hive:// via PyHive) or text files → a clean corpus.

The library entry point is `extract_corpus(output_dir, source_url=None, query=None, ...)`; the CLI
is `python -m components.extract --help`. Database drivers are imported only when a URL needs them.
"""

from components.extract.corpus import extract_corpus

__all__ = ["extract_corpus"]
