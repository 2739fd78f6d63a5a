"""The teacher, loaded from the convert stage's directory, and the student built from it.

The student is a transformers `BertForMaskedLM` of the teacher's kind with its own shape. When
its hidden size is the teacher's it starts as a copy of the teacher cut down to a few layers
(DistilBERT, HFL's RBT3): embeddings, teacher layer `layer_map[i]` as student layer i, and the
MLM head; the decoder stays tied to the word embeddings. With another hidden size nothing fits,
so it starts from random weights (TinyBERT) and the hidden-state loss learns projections
(`loss.HiddenProjection`).
"""

import dataclasses
import json
import logging
import os

import torch
import transformers

from components.common.errors import UserError

log = logging.getLogger(__name__)

LAYER_PREFIX = "bert.encoder.layer."


@dataclasses.dataclass
class StudentShape:
    """The student's size; None takes the teacher's."""
    num_hidden_layers: int
    hidden_size: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None


def _read_config(model_dir):
    if not model_dir or not os.path.isdir(model_dir):
        raise UserError("model directory does not exist", where=model_dir,
                        fix="pass the convert stage's output directory (a transformers "
                        "BertForMaskedLM save_pretrained directory)")
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        raise UserError("the directory has no config.json, so it is not a transformers model",
                        where=model_dir, fix="pass the convert stage's output directory")
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except ValueError as err:
        raise UserError(f"config.json is not valid JSON ({err})", where=path,
                        fix="pass the convert stage's output directory") from err
    if config.get("model_type") != "bert":
        raise UserError(f"expected a BERT model, found model_type "
                        f"{config.get('model_type')!r}", where=path,
                        fix="pass a BertForMaskedLM directory (the convert stage's output)")
    return config


def load_teacher(teacher_dir, attn_implementation="sdpa"):
    """The model in `teacher_dir` as a `BertForMaskedLM` in eval mode, without gradients.

    attn_implementation "eager" is needed to read attention distributions (the attention
    loss); "sdpa" (PyTorch's fused attention) is faster."""
    _read_config(teacher_dir)
    try:
        model = transformers.BertForMaskedLM.from_pretrained(
            teacher_dir, attn_implementation=attn_implementation)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load the model: {str(err).splitlines()[0]}", where=teacher_dir,
                        fix="pass the convert stage's output directory "
                        "(config.json + model.safetensors)") from err
    model.eval()
    model.requires_grad_(False)
    return model


def student_config(teacher_config, shape):
    """The teacher's `BertConfig` with the student's shape (None fields: the teacher's)."""
    layers = shape.num_hidden_layers
    hidden = shape.hidden_size or teacher_config.hidden_size
    heads = shape.num_attention_heads or teacher_config.num_attention_heads
    intermediate = shape.intermediate_size or teacher_config.intermediate_size
    if layers > teacher_config.num_hidden_layers:
        raise UserError(f"the student would have {layers} layers, more than the teacher's "
                        f"{teacher_config.num_hidden_layers}", where="--student_num_hidden_layers",
                        fix=f"pass at most {teacher_config.num_hidden_layers}")
    if hidden % heads:
        raise UserError(f"hidden size {hidden} is not divisible by {heads} attention heads",
                        where="--student_hidden_size / --student_num_attention_heads",
                        fix="pick a number of heads that divides the hidden size")
    config = transformers.BertConfig.from_dict(teacher_config.to_dict())
    config.update({"num_hidden_layers": layers, "hidden_size": hidden,
                   "num_attention_heads": heads, "intermediate_size": intermediate,
                   "architectures": ["BertForMaskedLM"]})
    if copies_teacher_layers(teacher_config, config) and \
            heads != teacher_config.num_attention_heads:
        # The copied Q/K/V matrices would be split into other heads than they were trained
        # as: attention scores of unrelated dimensions, not a student of the teacher.
        raise UserError(f"the student would copy the teacher's layers (same hidden size "
                        f"{hidden} and feed-forward size {intermediate}) with {heads} attention "
                        f"heads, but they were trained with "
                        f"{teacher_config.num_attention_heads}",
                        where="--student_num_attention_heads",
                        fix=f"pass {teacher_config.num_attention_heads} (or leave it out), or "
                        "another --student_hidden_size or --student_intermediate_size for a "
                        "random student")
    return config


def teacher_layer_map(teacher_layers, student_layers, chosen=None):
    """The 0-based teacher layer behind each student layer: `chosen`, checked, or evenly spaced
    ending at the last layer (12 → 4: [2, 5, 8, 11]), whose output the MLM head was trained on."""
    if chosen is None:
        if not 1 <= student_layers <= teacher_layers:
            raise UserError(f"cannot map {student_layers} student layers onto "
                            f"{teacher_layers} teacher layers", where="--student_num_hidden_layers",
                            fix=f"pass 1 to {teacher_layers}")
        return [(i + 1) * teacher_layers // student_layers - 1 for i in range(student_layers)]
    chosen = [int(layer) for layer in chosen]
    if len(chosen) != student_layers:
        raise UserError(f"--teacher_layers names {len(chosen)} layers for a student of "
                        f"{student_layers}", where="--teacher_layers",
                        fix="name one teacher layer per student layer")
    outside = [layer for layer in chosen if not 0 <= layer < teacher_layers]
    if outside:
        raise UserError(f"teacher layer {outside[0]} is out of range: the teacher has layers "
                        f"0 to {teacher_layers - 1}", where="--teacher_layers",
                        fix=f"name 0-based layers below {teacher_layers}")
    return chosen


def copies_teacher_layers(teacher_config, config):
    """Whether the student starts from the teacher's weights (same hidden and feed-forward
    sizes, so every copied matrix fits; `student_config` refuses other head counts then)."""
    return (config.hidden_size, config.intermediate_size) == \
        (teacher_config.hidden_size, teacher_config.intermediate_size)


def init_student(teacher, config, layer_map, seed):
    """A new student `BertForMaskedLM` of `config`: a copy of the teacher's embeddings, layers
    `layer_map` and MLM head when `copies_teacher_layers`, else random (seeded, without touching
    the global random state)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        student = transformers.BertForMaskedLM(config)
    if not copies_teacher_layers(teacher.config, config):
        log.info("student: random initialisation (hidden %d, feed-forward %d; the teacher's "
                 "are %d, %d)", config.hidden_size, config.intermediate_size,
                 teacher.config.hidden_size, teacher.config.intermediate_size)
        return student
    source = teacher.state_dict()
    with torch.no_grad():
        for name, value in student.state_dict().items():
            value.copy_(source[_teacher_name(name, layer_map)])
    log.info("student: teacher layers %s, embeddings and MLM head copied", layer_map)
    return student


def _teacher_name(student_name, layer_map):
    """The teacher parameter a student parameter is copied from."""
    if not student_name.startswith(LAYER_PREFIX):
        return student_name
    layer, rest = student_name[len(LAYER_PREFIX):].split(".", 1)
    return f"{LAYER_PREFIX}{layer_map[int(layer)]}.{rest}"


def hidden_layer_pairs(layer_map):
    """[(student, teacher)] indices into `output_hidden_states` (0: the embeddings) matched by
    the hidden-state loss: the embeddings, then each student layer with its teacher layer."""
    return [(0, 0)] + [(i + 1, layer + 1) for i, layer in enumerate(layer_map)]


def count_parameters(model):
    """Distinct parameters (a tied decoder counts once)."""
    return sum(p.numel() for p in model.parameters())
