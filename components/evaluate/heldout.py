"""Held-out masked-LM accuracy, loss and perplexity of a Google-format BERT.

Weighted exactly like Google's `run_pretraining.metric_fn`: accuracy = Σ(w·correct)/Σw, loss =
Σ(w·nll)/Σw over every masked position of every example (no example is dropped: the last batch
may be smaller), perplexity = exp(loss).
"""

import json
import logging
import math
import os

import tensorflow as tf

from components.bert.checkpoint import check_vocab_matches_config, load_model
from components.common.artifacts import write_json_atomic
from components.common.disk import check_writable_location
from components.common.errors import UserError
from components.common.logs import progress
from components.mlm import records
from components.mlm.loss import masked_lm_sums

log = logging.getLogger(__name__)


def evaluate_model(model, files, max_seq_length, max_predictions_per_seq, eval_batch_size,
                   max_eval_steps=None):
    """Metrics of an in-memory model over `files` (every record once, up to max_eval_steps)."""
    dataset = records.evaluation_dataset(files, eval_batch_size, max_seq_length,
                                      max_predictions_per_seq)
    if max_eval_steps:
        dataset = dataset.take(max_eval_steps)

    # Running (Σ w·nll, Σ w, Σ w·correct) in float64, as exact as summing Python floats, kept on
    # the device: reading them every batch would wait for each batch before queueing the next.
    # One trace for any last-batch size.
    @tf.function(input_signature=[dataset.element_spec, tf.TensorSpec([3], tf.float64)])
    def eval_step(batch, totals):
        logits = model(batch["input_ids"], batch["input_mask"], batch["segment_ids"],
                       masked_lm_positions=batch["masked_lm_positions"], training=False)
        sums = masked_lm_sums(logits, batch["masked_lm_ids"], batch["masked_lm_weights"])
        return totals + tf.cast(tf.stack(sums), tf.float64)

    totals = tf.zeros([3], tf.float64)
    examples = 0
    try:
        for batch in progress(dataset, desc="evaluating", unit="batch"):
            totals = eval_step(batch, totals)
            examples += batch["input_ids"].shape[0]  # the host batch's shape: no device wait
        # The one read of the device; an error of any batch may only surface here.
        nll_sum, weight_sum, correct_sum = totals.numpy().tolist()
    except tf.errors.InvalidArgumentError as err:
        raise UserError(f"the records do not fit the model: {str(err).splitlines()[0]}",
                        where=files[0], fix="evaluate with the model and vocab the data "
                        "was made for") from err
    if weight_sum == 0:
        raise UserError("the held-out records hold no masked positions", where=files[0],
                        fix="regenerate the pretraining data")
    loss = nll_sum / weight_sum
    return {"masked_lm_accuracy": correct_sum / weight_sum, "masked_lm_loss": loss,
            "perplexity": math.exp(min(loss, 700.0)), "num_examples": examples,
            "num_masked_tokens": weight_sum}


def evaluate(args):
    """Evaluate a model (checkpoint prefix or model directory) on held-out TFRecords.

    `args.input_dir`: a pretraining-data directory (its `heldout-*.tfrecord`), or a directory or
    glob of TFRecords in Google's schema. Returns the metrics; writes them as JSON to
    `args.output_file`.
    """
    input_dir, bert_config_file = args.input_dir, args.bert_config_file
    if args.output_file:
        check_writable_location(args.output_file, "--output_file", expect="file")
    files, manifest = records.list_input_files(input_dir, "heldout")
    seq_length, predictions = records.check_lengths(input_dir, files, manifest)
    model, config, prefix = load_model(args.init_checkpoint, bert_config_file)
    vocab_file = os.path.join(os.path.dirname(prefix), "vocab.txt")
    if os.path.isfile(vocab_file):
        check_vocab_matches_config(vocab_file, config.vocab_size,
                                   bert_config_file or "bert_config.json")
    else:
        vocab_file = None
    records.check_data_matches_model(input_dir, manifest, config, vocab_file, seq_length)
    log.info("evaluating %s on %d file(s) of %s", prefix, len(files), input_dir)
    metrics = evaluate_model(model, files, seq_length, predictions, args.eval_batch_size,
                             args.max_eval_steps)
    metrics.update({"checkpoint": prefix, "input": os.path.abspath(input_dir)})
    log.info("held-out: %s", json.dumps({k: v for k, v in metrics.items()
                                         if isinstance(v, float)}))
    if args.output_file:
        write_json_atomic(args.output_file, metrics)
    return metrics
