"""Google-format TF checkpoint → transformers `save_pretrained` directory, checked for parity.

The directory (kind "hf_model") holds `config.json` (BertForMaskedLM), `model.safetensors`,
the tokenizer files, `vocab.txt` and `parity.json`. The parity check runs the model *as saved*
(reloaded with `AutoModelForMaskedLM`) against our TF model on the same inputs; a difference above
the tolerance fails the conversion and leaves nothing behind.
"""

import logging
import os
import shutil
import time
import uuid

from components.bert.vocab import load_vocab, vocab_sha256
from components.common import lineage
from components.common.artifacts import (
    atomic_output_dir,
    read_manifest,
    sha256_file,
    write_json_atomic,
    write_manifest,
)
from components.common.disk import check_writable_location, write_errors_as_user_errors
from components.common.errors import UserError

log = logging.getLogger(__name__)

MANIFEST_KIND = "hf_model"


def _output_dir_for(output_dir, pytorch_dump_path):
    """--output_dir, or (users' old command) the directory of --pytorch_dump_path."""
    if output_dir:
        return os.path.abspath(output_dir)
    if not pytorch_dump_path:
        raise UserError("no output given", fix="pass --output_dir (and optionally "
                        "--pytorch_dump_path for a legacy pytorch_model.bin)")
    directory = os.path.dirname(os.path.abspath(pytorch_dump_path))
    if os.path.isdir(directory) and os.listdir(directory):
        try:
            read_manifest(directory, kind=MANIFEST_KIND)
        except UserError as err:
            raise UserError("the directory of --pytorch_dump_path holds other files, which the "
                            "converted model would replace", where=directory,
                            fix="pass --output_dir, or dump into an empty directory") from err
    return directory


def _vocab_file(vocab_file, prefix, bert_config_file):
    """--vocab_file, else vocab.txt beside the checkpoint, else beside the config."""
    if vocab_file:
        if not os.path.isfile(vocab_file):
            raise UserError("vocab file not found", where=vocab_file, fix="check --vocab_file")
        return vocab_file
    for directory in (os.path.dirname(prefix), os.path.dirname(os.path.abspath(bert_config_file))):
        candidate = os.path.join(directory, "vocab.txt")
        if os.path.isfile(candidate):
            return candidate
    raise UserError("no vocab.txt beside the checkpoint or the config", where=prefix,
                    fix="pass --vocab_file")


def _compare(tf_logits, torch_logits, input_mask):
    real = input_mask.astype(bool)
    diff = abs(tf_logits - torch_logits)
    agree = (tf_logits.argmax(-1) == torch_logits.argmax(-1))[real]
    return {"max_abs_logit_diff": float(diff.max()),
            "max_abs_logit_diff_real_tokens": float(diff[real].max()),
            "mean_abs_logit_diff": float(diff.mean()),
            "top1_agreement_real_tokens": float(agree.mean())}


def convert(args):
    """Convert a Google-format BERT to a transformers directory (`ConvertArguments`); return the
    parity dict."""
    output_dir, vocab_file, parity_tolerance = args.output_dir, args.vocab_file, \
        args.parity_tolerance
    import tensorflow as tf

    from components.bert.checkpoint import (
        check_vocab_matches_config,
        load_google_checkpoint,
        resolve_model_files,
    )
    from components.bert.config import BertConfig
    from components.bert.model import BertForPreTraining
    from components.convert import parity as parity_inputs

    started = time.time()
    output_dir = _output_dir_for(output_dir, args.pytorch_dump_path)
    if args.pytorch_dump_path:
        check_writable_location(args.pytorch_dump_path, "--pytorch_dump_path", expect="file")
    prefix, config_file, _ = resolve_model_files(args.tf_checkpoint_path, args.bert_config_file,
                                                 need_vocab=False)
    vocab_file = _vocab_file(vocab_file, prefix, config_file)
    config = BertConfig.from_json_file(config_file)
    check_vocab_matches_config(vocab_file, config.vocab_size, config_file)
    vocab = load_vocab(vocab_file)  # its special tokens are checked before the slow part

    log.info("loading %s (config %s)", prefix, config_file)
    tf_model = BertForPreTraining(config)
    load_google_checkpoint(tf_model, prefix, config_file)
    google_weights = {n: v.numpy() for n, v in tf_model.variables_by_name.items()}

    if args.parity_data:
        batch, source = parity_inputs.instances_from_records(args.parity_data, config,
                                                             args.num_parity_examples)
    else:
        batch, source = parity_inputs.random_instances(config, args.num_parity_examples,
                                                       args.parity_seq_length)

    # torch loads only once the inputs are known to be good: bad input fails fast.
    import torch
    import transformers

    from components.convert import torch_model

    log.info("building the PyTorch model (%d weights mapped)", len(google_weights))
    hf_config = torch_model.transformers_config(config, vocab)
    pretraining = torch_model.pretraining_model(hf_config, google_weights)
    masked_lm = torch_model.masked_lm_model(hf_config, pretraining)
    legacy_tmp = None
    try:
        with write_errors_as_user_errors(output_dir), atomic_output_dir(output_dir) as tmp:
            masked_lm.save_pretrained(tmp)
            torch_model.tokenizer(vocab_file, config.max_position_embeddings,
                                  args.do_lower_case).save_pretrained(tmp)
            shutil.copyfile(vocab_file, os.path.join(tmp, "vocab.txt"))

            log.info("parity check on %s", source)
            reloaded = transformers.AutoModelForMaskedLM.from_pretrained(tmp).eval()
            torch_logits = torch_model.torch_logits(reloaded, batch["input_ids"],
                                                    batch["input_mask"], batch["segment_ids"])
            tf_logits = tf_model(tf.constant(batch["input_ids"]), tf.constant(batch["input_mask"]),
                                 tf.constant(batch["segment_ids"])).numpy()
            parity = {"inputs": source, "num_examples": int(len(batch["input_ids"])),
                      "seq_length": int(batch["input_ids"].shape[1]), "dtype": "float32",
                      "tolerance": parity_tolerance,
                      **_compare(tf_logits, torch_logits, batch["input_mask"]),
                      "hidden_act": {"google": config.hidden_act,
                                     "transformers": hf_config.hidden_act},
                      "versions": {"tensorflow": tf.__version__, "torch": torch.__version__,
                                   "transformers": transformers.__version__}}
            log.info("max |TF - PyTorch| logit difference %.3g (tolerance %g)",
                     parity["max_abs_logit_diff"], parity_tolerance)
            if not parity["max_abs_logit_diff"] <= parity_tolerance:
                worst = parity["max_abs_logit_diff"]
                raise UserError(f"TF and PyTorch logits differ by {worst:.3g} > "
                                f"{parity_tolerance:g}", where=prefix,
                                fix="the conversion is wrong for this model; nothing was written")
            write_json_atomic(os.path.join(tmp, "parity.json"), parity)

            legacy = {}
            if args.pytorch_dump_path:
                dump = os.path.abspath(args.pytorch_dump_path)
                in_dir = os.path.dirname(dump) == output_dir
                legacy_tmp = (os.path.join(tmp, os.path.basename(dump)) if in_dir
                              else f"{dump}.tmp-{uuid.uuid4().hex[:8]}")
                os.makedirs(os.path.dirname(legacy_tmp), exist_ok=True)
                # The users' old converter saved BertForPreTraining's state dict: keep that.
                torch.save(pretraining.state_dict(), legacy_tmp)
                legacy = {"pytorch_dump_path": dump, "pytorch_dump_sha256": sha256_file(legacy_tmp)}
                legacy_tmp = None if in_dir else legacy_tmp
            write_manifest(tmp, {
                "kind": MANIFEST_KIND, "architecture": "BertForMaskedLM",
                "source_checkpoint": os.path.abspath(prefix),
                lineage.MODEL: lineage.model_fingerprint(prefix),
                "bert_config_file": os.path.abspath(config_file),
                "vocab_sha256": vocab_sha256(vocab_file), "bert_config": config.to_dict(),
                "parity": parity, **legacy})
        if legacy_tmp:
            os.replace(legacy_tmp, legacy["pytorch_dump_path"])
            legacy_tmp = None
    finally:
        if legacy_tmp and os.path.exists(legacy_tmp):
            os.remove(legacy_tmp)
    log.info("wrote %s in %.1f s", output_dir, time.time() - started)
    return parity
