"""The pretraining data's format, in one place and without TensorFlow: what the pretraining_data
stage writes and every stage that reads its records (train and evaluate through `mlm.records`,
convert's parity check, distill, the report) takes from here.

- `layout`: the directory (`train-*.tfrecord`, `heldout-*.tfrecord`, `manifest.json`), the
  manifest check and the lengths it declares;
- `schema`: Google's run_pretraining features, their types and widths;
- `example`: `tf.train.Example` protobufs parsed by hand, a batch at a time, into NumPy arrays;
- `reader`: TFRecord files read with both CRCs checked, in order (`iter_batches`) or at random
  (`open_split` → `RecordIndex`).
"""
