"""Masked-LM pretraining of a Google-format BERT (`loop.train`)."""
