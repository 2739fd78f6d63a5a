"""One module of KFP components per stage, written by `make generate`
(components/kfp/generate.py)."""
