"""Data-sheet peak throughput of the GPUs we train on, for MFU (no TensorFlow, no torch).

The trainer (TensorFlow) and the distiller (PyTorch) both look the detected GPU up here by the
exact name CUDA reports.
"""

# Dense peak TFLOP/s per GPU, no sparsity: (16-bit tensor cores, float32 matmuls as TF runs
# them: TF32 on Ampere and newer, plain FP32 before). Keyed by the exact name CUDA reports
# (`get_device_details(gpu)["device_name"]`), because variants of one chip differ: a substring
# match gave an "H100 PCIe" the SXM peak and an "L40" the L4's. From the vendor data sheets
# (sparse figures halved): NVIDIA H100 Tensor Core GPU (SXM, PCIe, NVL per GPU), H200 Tensor
# Core GPU, A100 Tensor Core GPU (SXM4 and PCIe alike), L40S, L40, L4, A10, Tesla V100 (SXM2 and
# PCIe, any memory size), Tesla T4.
GPU_PEAK_TFLOPS = {
    "NVIDIA H100 80GB HBM3": (989.0, 494.5),  # SXM5
    "NVIDIA H100 PCIe": (756.0, 378.0),
    "NVIDIA H100 NVL": (835.0, 417.5),
    "NVIDIA H200": (989.0, 494.5),
    "NVIDIA A100-SXM4-80GB": (312.0, 156.0),
    "NVIDIA A100-SXM4-40GB": (312.0, 156.0),
    "NVIDIA A100-PCIE-40GB": (312.0, 156.0),
    "NVIDIA A100 80GB PCIe": (312.0, 156.0),
    "NVIDIA L40S": (362.0, 183.0),
    "NVIDIA L40": (181.0, 90.5),
    "NVIDIA L4": (121.0, 60.0),
    "NVIDIA A10": (125.0, 62.5),
    "Tesla V100-SXM2-16GB": (125.0, 15.7),
    "Tesla V100-SXM2-32GB": (125.0, 15.7),
    "Tesla V100-PCIE-16GB": (112.0, 14.0),
    "Tesla V100-PCIE-32GB": (112.0, 14.0),
    "Tesla T4": (65.0, 8.1),
}


def _normalise(device_name):
    """Case and spacing only: anything looser would confuse variants again."""
    return " ".join(device_name.split()).casefold()


_PEAKS_BY_NAME = {_normalise(name): peaks for name, peaks in GPU_PEAK_TFLOPS.items()}


def peak_tflops_for(device_name, precision):
    """One GPU's data-sheet peak for `precision`, or None if `device_name` is not in the table."""
    peaks = _PEAKS_BY_NAME.get(_normalise(device_name))
    if peaks is None:
        return None
    half, single = peaks
    return half if precision.startswith("mixed") else single
