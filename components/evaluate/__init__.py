"""Held-out masked-LM metrics of a Google-format BERT (`heldout.evaluate`)."""
