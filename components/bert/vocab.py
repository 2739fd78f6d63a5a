"""vocab.txt ⇄ bert_config.json consistency (no TensorFlow needed)."""

from components.common.errors import UserError


def count_vocab(vocab_file):
    """Number of entries in a vocab.txt as Google's `load_vocab` counts them (one per line)."""
    try:
        with open(vocab_file, encoding="utf-8") as f:
            return sum(1 for _ in f)
    except FileNotFoundError as err:
        raise UserError("vocab file not found", where=vocab_file, fix="check --vocab_file") from err
    except UnicodeDecodeError as err:
        raise UserError("vocab file is not UTF-8 text", where=vocab_file,
                        fix="pass the model's vocab.txt") from err


def check_vocab_matches_config(vocab_file, config, config_file="bert_config.json"):
    """Raise a UserError naming both files when the vocab and the config disagree in size."""
    entries = count_vocab(vocab_file)
    if entries != config.vocab_size:
        raise UserError(f"vocab has {entries} entries but the config says vocab_size "
                        f"{config.vocab_size}", where=f"{vocab_file} vs {config_file}",
                        fix="use the vocab.txt and bert_config.json of the same model")
    return entries
