"""What training and evaluation share: the masked-LM records (Google's schema, read with
tf.data and checked against the flags and the model) and Google's masked-LM loss and accuracy."""
