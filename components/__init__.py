"""edu-mlm: domain-adaptive MLM pretraining of Google's Chinese BERT as a Kubeflow pipeline."""

import os

# TensorFlow's C++ start-up chatter (CPU feature notices) would bury our one-line errors and logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
