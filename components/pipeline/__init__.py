"""The Kubeflow pipeline around the stages: its definition, local runs, reruns and submission.

`pipeline.py` at the repository root is the command line; this package holds what it runs.
"""
