"""edu-mlm: domain-adaptive MLM pretraining of Google's Chinese BERT as a Kubeflow pipeline."""
