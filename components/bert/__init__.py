"""The one BERT: Google's config, model and checkpoint format in TensorFlow 2."""
