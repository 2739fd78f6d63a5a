"""`train()`: continued masked-LM pretraining of a Google-format BERT, resumable and preemptible.

One function per phase: resolve and check the inputs, build the model/optimizer/input under the
distribution strategy, restore (training state, else the initial checkpoint), run the steps with
periodic saves, then write the trained model in Google's format and `manifest.json` last.
"""

import json
import logging
import math
import os
import shutil
import tempfile
import time
from typing import NamedTuple

import tensorflow as tf

from components.bert.checkpoint import (
    check_vocab_matches_config,
    load_google_checkpoint,
    resolve_model_files,
)
from components.bert.config import BertConfig
from components.bert.model import BertForPreTraining, google_variable_shapes
from components.bert.vocab import vocab_sha256
from components.common.artifacts import write_manifest
from components.common.disk import check_free_space, write_errors_as_user_errors
from components.common.errors import UserError
from components.common.logs import progress
from components.common.run_state import (
    StopRequest,
    check_run_settings,
    keep_logs,
    start_run,
)
from components.evaluate.arguments import EvaluateArguments
from components.evaluate.heldout import evaluate
from components.mlm import records
from components.train.feed import DeviceFeed, batch_placer
from components.train.monitor import (
    LOG_FILE,
    TrainMonitor,
    default_peak_tflops,
    training_flops_per_example,
)
from components.train.optimizer import AdamWeightDecay
from components.train.state import (
    STATE_DIR,
    TrainingInterrupted,
    TrainingState,
    export_model,
    write_model_files,
)
from components.train.step import LossScale, make_train_step, trainable_by_name

log = logging.getLogger(__name__)

# Reported with the run's summary (the KFP Metrics) from the last log interval.
THROUGHPUT_KEYS = ("examples_per_sec", "tokens_per_sec", "model_tflops", "mfu",
                   "input_wait_fraction")
COMPUTE_DTYPES = {"fp32": tf.float32, "mixed_float16": tf.float16,
                  "mixed_bfloat16": tf.bfloat16}


class ModelFiles(NamedTuple):
    prefix: str | None  # checkpoint prefix; None: random initialisation
    config: BertConfig
    config_file: str
    vocab_file: str


def resolve_model_inputs(init_checkpoint, bert_config_file, vocab_file):
    """The model to start from (prefix None: random), its config and vocab; sizes checked."""
    prefix = None
    if init_checkpoint:
        prefix, bert_config_file, vocab_file = resolve_model_files(
            init_checkpoint, bert_config_file, vocab_file)
    else:
        if not bert_config_file:
            raise UserError("random initialisation needs a model config",
                            fix="pass --bert_config_file (or --init_checkpoint)")
        if not vocab_file:
            vocab_file = os.path.join(os.path.dirname(bert_config_file), "vocab.txt")
            if not os.path.isfile(vocab_file):
                raise UserError("no vocab.txt beside the config", where=bert_config_file,
                                fix="pass --vocab_file")
    config = BertConfig.from_json_file(bert_config_file)
    check_vocab_matches_config(vocab_file, config.vocab_size, bert_config_file)
    return ModelFiles(prefix, config, bert_config_file, vocab_file)


def make_strategy(num_gpus, num_cpu_replicas=1):
    """One device (default strategy) or MirroredStrategy over several local devices.

    `num_gpus` GPUs when given (a pipeline task always says how many its pod was granted: a
    missing GPU must stop the run, not turn it into months on a CPU); else every visible GPU;
    without GPUs, `num_cpu_replicas` logical CPU devices. Under a Kubeflow TFJob (TF_CONFIG
    names several workers) MultiWorkerMirroredStrategy.
    """
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    if sum(len(tasks) for tasks in cluster.values()) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if num_gpus is not None:
        if len(gpus) < num_gpus:
            raise UserError(f"--num_gpus={num_gpus} but this machine sees {len(gpus)} GPU(s) "
                            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})",
                            where="--num_gpus", fix="run where the GPUs are granted (a pod "
                            "needs an nvidia.com/gpu limit and the NVIDIA device plugin), or "
                            "pass a smaller --num_gpus")
        devices = gpus[:num_gpus]
    elif gpus:
        devices = gpus
    else:
        cpus = tf.config.list_logical_devices("CPU")
        if num_cpu_replicas > len(cpus):
            raise UserError(f"--num_cpu_replicas={num_cpu_replicas} but only {len(cpus)} "
                            "logical CPU devices exist", where="--num_cpu_replicas",
                            fix=f"pass --num_cpu_replicas={len(cpus)} or less")
        devices = cpus[:num_cpu_replicas]
    if len(devices) <= 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy([d.name for d in devices])


def input_shard(strategy):
    """(number of input pipelines, this one's index): one per worker under a TFJob."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 1, 0
    return resolver.cluster_spec().num_tasks("worker"), resolver.task_id or 0


def worker_role(strategy, output_dir):
    """(is chief, where this worker writes). Under MultiWorkerMirroredStrategy every worker
    saves (the save is collective), but only the chief (worker 0) into `output_dir`; the others
    write to a private temporary directory. Every worker resumes from the checkpoint directory,
    which must be shared storage (a ReadWriteMany volume)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True, output_dir
    if is_chief(resolver.task_type, resolver.task_id, resolver.cluster_spec().as_dict()):
        return True, output_dir
    return False, tempfile.mkdtemp(prefix=f"edu-mlm-{resolver.task_type}-{resolver.task_id}-")


def is_chief(task_type, task_id, cluster):
    """TF's convention: the `chief` task if the cluster has one, else worker 0."""
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and (task_id or 0) == 0


def resolve_precision(precision):
    """`auto`: bfloat16 on Ampere or newer GPUs, float16 on Volta/Turing, float32 on CPU."""
    if precision != "auto":
        return precision
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "fp32"
    major = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0,))[0]
    return "mixed_bfloat16" if major >= 8 else "mixed_float16" if major >= 7 else "fp32"


def train(args):
    """Train, resuming from the newest training state in `args.checkpoint_dir` (default:
    `output_dir/train_state`); return the run's summary.

    `train_batch_size` is per replica (global batch = it × replicas). `stop_at_step` ends this
    run early after saving (a later run with the same arguments resumes). SIGTERM saves and
    raises `TrainingInterrupted`.
    """
    # First: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = make_strategy(args.num_gpus, args.num_cpu_replicas) if args.do_train else None
    checkpoint_dir = args.checkpoint_dir or os.path.join(args.output_dir, STATE_DIR)
    model_files = resolve_model_inputs(args.init_checkpoint, args.bert_config_file,
                                       args.vocab_file)
    config = model_files.config
    summary = {"kind": "bert_model", "checkpoint": "bert_model.ckpt",
               "bert_config": config.to_dict(),
               "init_checkpoint": model_files.prefix or "random",
               "input_dir": os.path.abspath(args.input_dir)}
    if args.do_train:
        files, manifest = records.list_input_files(args.input_dir, "train")
        records.check_lengths(args.input_dir, files, manifest, args.max_seq_length,
                              args.max_predictions_per_seq)
        records.check_data_matches_model(args.input_dir, manifest, config,
                                         model_files.vocab_file, args.max_seq_length)
        # At least the first save: the exported float32 model and a state (weights, 2 Adam slots).
        model_bytes = 4 * sum(math.prod(s) for s in google_variable_shapes(config).values())
        check_free_space(args.output_dir, model_bytes, "the model")
        check_free_space(checkpoint_dir, 3 * model_bytes, "the training state",
                         flag="--checkpoint_dir")
        started = time.monotonic()
        summary.update(run_training(args, model_files, files, strategy, checkpoint_dir,
                                    resolve_precision(args.precision)))
        # This process's wall time: a resumed run's earlier processes are not in it.
        summary["train_seconds"] = round(time.monotonic() - started, 1)
        if summary["global_step"] < args.num_train_steps or not summary.pop("chief"):
            return summary  # stopped early, or a worker whose files are not the result
    if args.do_eval:
        os.makedirs(args.output_dir, exist_ok=True)
        metrics = evaluate(EvaluateArguments(
            input_dir=args.input_dir,
            init_checkpoint=args.output_dir if args.do_train else model_files.prefix,
            bert_config_file=model_files.config_file, eval_batch_size=args.eval_batch_size,
            max_eval_steps=args.max_eval_steps,
            output_file=os.path.join(args.output_dir, "eval_results.json")))
        summary.update({f"eval_{k}": v for k, v in metrics.items()})
    if args.do_train:
        summary["vocab_sha256"] = vocab_sha256(model_files.vocab_file)
        write_manifest(args.output_dir, summary)
    return summary


def run_training(args, model_files, files, strategy, checkpoint_dir, precision):
    """The training run proper (see `train`): its summary, with `chief` for a worker's role."""
    config, output_dir = model_files.config, args.output_dir
    max_seq_length, max_predictions_per_seq = args.max_seq_length, args.max_predictions_per_seq
    replicas = strategy.num_replicas_in_sync
    global_batch = args.train_batch_size * replicas
    jit_compile = args.jit_compile
    if jit_compile is None:
        jit_compile = bool(tf.config.list_physical_devices("GPU"))
    settings = {
        "bert_config": config.to_dict(), "global_batch_size": global_batch,
        "max_seq_length": max_seq_length, "max_predictions_per_seq": max_predictions_per_seq,
        "num_train_steps": args.num_train_steps, "num_warmup_steps": args.num_warmup_steps,
        "learning_rate": args.learning_rate, "random_seed": args.random_seed}
    check_run_settings(checkpoint_dir, settings)
    log.info("training on %d replica(s), global batch %d, precision %s, XLA %s",
             replicas, global_batch, precision, "on" if jit_compile else "off")

    with strategy.scope():
        model = BertForPreTraining(config, seed=args.random_seed,
                                   compute_dtype=COMPUTE_DTYPES[precision])
        optimizer = AdamWeightDecay(trainable_by_name(model))
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        loss_scale = LossScale() if precision == "mixed_float16" else None
    workers, worker_index = input_shard(strategy)
    if workers > len(files):
        raise UserError(f"{workers} workers but only {len(files)} training files",
                        where=files[0], fix="write at least one shard per worker")
    dataset = records.training_dataset(files[worker_index::workers], global_batch // workers,
                                       max_seq_length, max_predictions_per_seq,
                                       seed=args.random_seed,
                                       shuffle_buffer_size=args.shuffle_buffer_size)
    iterator = iter(dataset)
    trackables = {"model": model, "optimizer": optimizer, "step": step, "input": iterator}
    if loss_scale is not None:
        trackables["loss_scale"] = loss_scale
    chief, write_dir = worker_role(strategy, output_dir)
    # A worker other than the chief saves privately (its saves are part of a collective) but
    # resumes from the chief's states.
    state_dir = checkpoint_dir if chief else os.path.join(write_dir, STATE_DIR)
    state = TrainingState(state_dir, args.keep_checkpoint_max, restore_dir=checkpoint_dir,
                          **trackables)
    restored = state.restore_newest()
    if restored:
        log.info("resuming from %s at step %d", restored, int(step.numpy()))
    elif model_files.prefix:
        load_google_checkpoint(model, model_files.prefix, model_files.config_file)
    else:
        log.info("starting from a random initialisation (seed %d)", args.random_seed)
    # Only now, with every input checked, does the output directory change.
    start_run(write_dir, state_dir, LOG_FILE, settings)
    write_model_files(write_dir, config, model_files.vocab_file)

    train_step = make_train_step(strategy, model, optimizer, step, args.learning_rate,
                                 args.num_train_steps, args.num_warmup_steps, args.random_seed,
                                 loss_scale, jit_compile)
    feed = DeviceFeed(iterator, batch_placer(strategy))
    first_step = int(step.numpy())
    last_step = min(args.num_train_steps, args.stop_at_step or args.num_train_steps)
    flops = training_flops_per_example(config, max_seq_length, max_predictions_per_seq)
    peak_tflops = args.peak_tflops
    if peak_tflops is None:
        peak_tflops = default_peak_tflops(precision, replicas)
    monitor = TrainMonitor(write_dir, global_batch, global_batch * max_seq_length, flops,
                           peak_tflops, first_step)

    def save(current):
        saving = time.perf_counter()
        state.save(current)
        export_model(model, write_dir, current)
        keep_logs(write_dir, state_dir, LOG_FILE)
        log.info("saved the training state and the model at step %d in %.1f s", current,
                 time.perf_counter() - saving)

    try:
        with StopRequest() as stop, write_errors_as_user_errors(output_dir):
            if first_step >= last_step:  # nothing left to train: write the model again
                export_model(model, write_dir, first_step)
                last = {}
            else:
                last = run_steps(train_step, feed, monitor, save, first_step, last_step,
                                 args.num_train_steps, args.save_checkpoints_steps,
                                 args.log_every_n_steps, stop, write_dir)
    finally:
        monitor.close()
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)
    return {"global_step": int(step.numpy()), "num_train_steps": args.num_train_steps,
            "train_batch_size": global_batch, "replicas": replicas, "precision": precision,
            "jit_compile": bool(jit_compile), "chief": chief, **last}


def run_steps(train_step, feed, monitor, save, first_step, last_step, num_train_steps,
              save_every, log_every, stop, output_dir):
    """The loop from `first_step` to `last_step`: step, log every `log_every`, save every
    `save_every`, on SIGTERM and at the end; return the last log entry's summary.

    Batch k + 1 is drawn only after step k is dispatched and after any save, so its host work
    and copy overlap step k and a save records the next unconsumed record (see `feed`). Step
    outputs stay tensors until a log interval, so the dispatch does not wait for the device;
    only the process's first step is waited for, to time its tracing apart (see `monitor`), and
    the step before a save, whose time is left out of the throughput as well.
    """
    bar = progress(total=num_train_steps, desc="training", unit="step")
    bar.update(first_step)
    current, last_entry, first_step_seconds = first_step, {}, None
    totals, steps, untimed = None, 0, 0
    batch = feed.next()
    started = time.perf_counter()
    while current < last_step:
        out = train_step(batch)
        totals = out if totals is None else {k: totals[k] + out[k] for k in totals}
        steps, current = steps + 1, current + 1
        bar.update(1)
        if first_step_seconds is None:
            # The first call traced and compiled the step: time it alone (reading its outputs
            # waits for it to finish) and start the throughput clock after it.
            for value in out.values():
                float(value)
            first_step_seconds = time.perf_counter() - started
            untimed, started, feed.input_seconds = 1, time.perf_counter(), 0.0
        if current % log_every == 0 or current == last_step:
            values = {k: float(v) for k, v in totals.items()}
            values["learning_rate"] = float(out["learning_rate"])
            entry = monitor.record(current, values, steps, steps - untimed,
                                   time.perf_counter() - started, feed.input_seconds,
                                   first_step_seconds if untimed else None)
            bar.set_postfix(loss=f"{entry['loss']:.3f}", acc=f"{entry['masked_lm_accuracy']:.3f}")
            last_entry = {"final_loss": entry["loss"],
                          "final_masked_lm_accuracy": entry["masked_lm_accuracy"],
                          **{k: entry[k] for k in THROUGHPUT_KEYS if k in entry}}
            totals, steps, untimed = None, 0, 0
            started, feed.input_seconds = time.perf_counter(), 0.0
        # Read once: a SIGTERM arriving after this is handled after the next step, never by
        # stopping without the save.
        stopping = stop.requested
        if current % save_every == 0 or current == last_step or stopping:
            # Wait for the step first, so the time left out of the throughput is the write alone.
            float(out["learning_rate"])
            saving = time.perf_counter()
            save(current)
            started += time.perf_counter() - saving
        if stopping:
            bar.close()
            raise TrainingInterrupted(f"stopped at step {current} on SIGTERM; the state is "
                                      f"saved in {output_dir}, rerun to resume")
        if current < last_step:
            batch = feed.next()
    bar.close()
    return {**last_entry, "compile_seconds": first_step_seconds}
