"""extract: a SQL query (SQLAlchemy URL, hive:// via PyHive) or text files → a clean corpus.

The library entry point is `corpus.extract_corpus(ExtractArguments(...))`; the CLI is
`python -m components.extract --help`. Database drivers are imported only when a URL needs them.
"""
