"""The one BERT: Google's config, model, checkpoint format and vocab, in TensorFlow 2.

`init.init_random_model` writes a randomly initialised model; the trainer, evaluator and
converter use `model` (`BertForPreTraining`), `checkpoint` (`load_model`, `write_model_dir`, ...)
and `vocab`.
"""
