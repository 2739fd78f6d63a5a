"""Tiny BERT configs, vocabs and weights for the bert and convert tests."""

import json

import numpy as np

SPECIALS = ["[PAD]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Real CJK ideographs from the start of the Unified Ideographs block, as single-char tokens, plus
# their ## continuations and a few ASCII tokens: Google's Chinese vocab layout in miniature.
CHINESE_CHARS = [chr(0x4E00 + i) for i in range(120)]


def tiny_vocab(vocab_size=300):
    ascii_tokens = [c for c in "abcdefghijklmnopqrstuvwxyz0123456789,.!?"]
    tokens = SPECIALS + ascii_tokens + CHINESE_CHARS + [f"##{c}" for c in CHINESE_CHARS]
    tokens += [f"[unused{i}]" for i in range(2, 2 + max(0, vocab_size - len(tokens)))]
    return tokens[:vocab_size]


def tiny_config(**overrides):
    """A small but non-trivial Google-style config (4 heads, 3 layers, 2 segment types)."""
    config = {
        "vocab_size": 300, "hidden_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4,
        "intermediate_size": 96, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64,
        "type_vocab_size": 2, "initializer_range": 0.02,
        # Keys Google's Chinese bert_config.json carries beyond modeling.BertConfig's fields.
        "directionality": "bidi", "pooler_type": "first_token_transform",
    }
    config.update(overrides)
    return config


def write_model_inputs(directory, vocab_size=300, **config_overrides):
    """Write bert_config.json and vocab.txt into `directory`; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "bert_config.json"
    vocab_path = directory / "vocab.txt"
    config_path.write_text(json.dumps(tiny_config(vocab_size=vocab_size, **config_overrides)))
    vocab_path.write_text("".join(t + "\n" for t in tiny_vocab(vocab_size)), encoding="utf-8")
    return config_path, vocab_path


def randomize_weights(model, seed=0):
    """Give every weight (biases and LayerNorm too) a non-trivial value so that a wrong mapping
    or a wrong formula anywhere shows in the logits."""
    rng = np.random.default_rng(seed)
    for name, variable in sorted(model.variables_by_name.items()):
        shape = variable.shape.as_list()
        if name.endswith("/gamma"):
            value = 1.0 + rng.normal(0.0, 0.2, shape)
        elif name.endswith(("/bias", "/beta", "output_bias")):
            value = rng.normal(0.0, 0.1, shape)
        else:
            value = rng.normal(0.0, 0.15, shape)
        variable.assign(value.astype(np.float32))


def padded_batch(vocab_size=300, seq_length=24, seed=1):
    """Three sequences: one full, two padded, with segment 1 after the middle."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(6, vocab_size, size=(3, seq_length))
    input_mask = np.ones((3, seq_length), np.int64)
    input_mask[1, 15:] = 0
    input_mask[2, 6:] = 0
    segment_ids = np.zeros((3, seq_length), np.int64)
    segment_ids[0, 12:] = 1
    segment_ids[1, 8:15] = 1
    segment_ids[2, 3:6] = 1
    return input_ids * input_mask, input_mask, segment_ids
