"""Pretraining data: corpus + vocab.txt → masked-LM TFRecords in Google's schema (`create`,
`merge`, the pipeline's fan-out plan in `fanout`)."""
