"""The transformers side of the conversion: config, PyTorch models and tokenizer.

Only the converter imports torch and transformers (the trainer image has neither).
"""

import logging

import torch
import transformers
from transformers.initialization import no_init_weights

from components.bert.config import LAYER_NORM_EPSILON, BertConfig
from components.convert.mapping import torch_state_dict

log = logging.getLogger(__name__)

# Google's activation names → transformers' names for the same function. Google's "gelu" is the
# tanh approximation; transformers' "gelu" is the exact erf form, "gelu_new" is Google's formula.
HIDDEN_ACT = {"gelu": "gelu_new", "relu": "relu", "tanh": "tanh", "linear": "linear"}


def transformers_config(config: BertConfig, vocab):
    """transformers' BertConfig that computes what Google's model with `config` computes."""
    return transformers.BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        hidden_act=HIDDEN_ACT[config.hidden_act],
        hidden_dropout_prob=config.hidden_dropout_prob,
        attention_probs_dropout_prob=config.attention_probs_dropout_prob,
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        initializer_range=config.initializer_range,
        layer_norm_eps=LAYER_NORM_EPSILON,
        pad_token_id=vocab.id_of("[PAD]"),
        architectures=["BertForMaskedLM"],
    )


# The decoder is tied to the word embeddings and its bias to cls.predictions.bias.
TIED = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}


def _model_with_weights(model_class, hf_config, state):
    """`model_class` holding exactly `state` (every key but the tied ones must be there)."""
    # Every weight is overwritten below, so transformers' random initialisation (about 8 s for
    # BERT-base) is skipped; the strict key check makes sure nothing stays uninitialised.
    with no_init_weights():
        model = model_class(hf_config)
    model.tie_weights()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if set(missing) - TIED or unexpected:
        raise RuntimeError(f"{model_class.__name__} keys differ: missing "
                           f"{sorted(set(missing) - TIED)}, unexpected {sorted(unexpected)}")
    embeddings = model.bert.embeddings.word_embeddings.weight
    if model.cls.predictions.decoder.weight.data_ptr() != embeddings.data_ptr():
        raise RuntimeError("decoder weight is not tied to the word embeddings")
    return model.eval()


def pretraining_model(hf_config, google_weights):
    """`BertForPreTraining` holding every Google weight (what the users' old converter saved)."""
    state = {k: torch.from_numpy(v) for k, v in torch_state_dict(google_weights).items()}
    return _model_with_weights(transformers.BertForPreTraining, hf_config, state)


def masked_lm_model(hf_config, pretraining):
    """`BertForMaskedLM` with the encoder and MLM head of a `BertForPreTraining`."""
    state = {k: v for k, v in pretraining.state_dict().items()
             if not k.startswith(("bert.pooler.", "cls.seq_relationship.")) and k not in TIED}
    return _model_with_weights(transformers.BertForMaskedLM, hf_config, state)


def tokenizer(vocab_file, max_length, do_lower_case=True):
    """Google's Chinese BERT tokenization: lower-cased, accents stripped, CJK chars split."""
    return transformers.BertTokenizer(vocab=vocab_file, do_lower_case=do_lower_case,
                                      tokenize_chinese_chars=True, model_max_length=max_length)


def torch_logits(model, input_ids, input_mask, segment_ids):
    """[B, T, V] float32 numpy logits of a BertForMaskedLM."""
    with torch.no_grad():
        out = model(input_ids=torch.as_tensor(input_ids, dtype=torch.long),
                    attention_mask=torch.as_tensor(input_mask, dtype=torch.long),
                    token_type_ids=torch.as_tensor(segment_ids, dtype=torch.long))
    return out.logits.float().numpy()
