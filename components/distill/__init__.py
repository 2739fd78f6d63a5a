"""Knowledge distillation of the adapted BERT into a small PyTorch student (`loop.distill`)."""
