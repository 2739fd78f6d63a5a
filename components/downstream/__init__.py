"""Fine-tune BERT models on a labelled education task and compare them (`run.run_downstream`)."""
