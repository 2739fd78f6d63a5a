"""The model as a service takes it: ONNX graphs (fp32, int8) checked against PyTorch (`run`)."""
