"""Google's `bert_config.json` as a dataclass.

The field names and defaults are those of `modeling.BertConfig` in google-research/bert. Keys the
file carries beyond them (Google's Chinese model has `directionality`, `pooler_*`) are kept in
`extra` and written back, so reading and writing a config never loses anything.
"""

import dataclasses
import json
import os

from components.common.artifacts import write_text_atomic
from components.common.errors import UserError

ACTIVATIONS = ("gelu", "relu", "tanh", "linear")
# Google's tf.contrib.layers.layer_norm epsilon; the converted model must use the same.
LAYER_NORM_EPSILON = 1e-12


@dataclasses.dataclass
class BertConfig:
    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    @property
    def head_size(self):
        return self.hidden_size // self.num_attention_heads

    def validate(self, where=None):
        """Raise a UserError naming the first field that Google's model could not be built with."""
        where = where or "bert_config"
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"{name} must be a positive integer, got {value!r}", where=where,
                                fix="fix the value in bert_config.json")
        if self.hidden_size % self.num_attention_heads:
            raise UserError(f"hidden_size {self.hidden_size} is not a multiple of "
                            f"num_attention_heads {self.num_attention_heads}", where=where,
                            fix="fix hidden_size or num_attention_heads in bert_config.json")
        if self.hidden_act not in ACTIVATIONS:
            raise UserError(f"hidden_act {self.hidden_act!r} is not one of "
                            f"{', '.join(ACTIVATIONS)}", where=where,
                            fix="fix hidden_act in bert_config.json")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise UserError(f"{name} must be in [0, 1), got {value!r}", where=where,
                                fix="fix the value in bert_config.json")
        value = self.initializer_range
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise UserError(f"initializer_range must be positive, got {value!r}", where=where,
                            fix="fix the value in bert_config.json")

    @classmethod
    def from_dict(cls, values, where=None):
        if not isinstance(values, dict):
            raise UserError("a BERT config must be a JSON object", where=where,
                            fix="pass the bert_config.json that ships with the model")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        if "vocab_size" not in values:
            raise UserError("the BERT config has no vocab_size", where=where,
                            fix="pass the bert_config.json that ships with the model")
        fields = {k: v for k, v in values.items() if k in known}
        extra = {k: v for k, v in values.items() if k not in known}
        config = _build_without_validation(cls, fields, extra)
        config.validate(where)
        return config

    @classmethod
    def from_json_file(cls, path):
        """Read Google's bert_config.json; any problem is a one-line UserError naming the file."""
        if not os.path.isfile(path):
            raise UserError("BERT config file not found", where=path,
                            fix="pass --bert_config_file pointing at the model's bert_config.json")
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"BERT config is not valid JSON: {err}", where=path,
                            fix="pass the bert_config.json that ships with the model") from err
        return cls.from_dict(values, where=path)

    def to_dict(self):
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name != "extra"}
        values.update(self.extra)
        return values

    def to_json_string(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path):
        """Write the config atomically (temporary file, then rename)."""
        write_text_atomic(path, self.to_json_string())


def _build_without_validation(cls, fields, extra):
    """Construct with `__post_init__`'s validation deferred, so the caller can name the file."""
    config = object.__new__(cls)
    defaults = {f.name: (f.default if f.default is not dataclasses.MISSING else None)
                for f in dataclasses.fields(cls) if f.name != "extra"}
    defaults.update(fields)
    for name, value in defaults.items():
        setattr(config, name, value)
    config.extra = dict(extra)
    return config
