"""The data-sheet peak behind MFU: exact GPU names, one GPU's peak times the replicas."""

import logging

import pytest
import tensorflow as tf

from components.train.monitor import default_peak_tflops, peak_tflops_for


@pytest.mark.parametrize("name, half, single", [
    ("NVIDIA H100 80GB HBM3", 989.0, 494.5),
    ("NVIDIA H100 PCIe", 756.0, 378.0),   # not the SXM peak its "H100" prefix shares
    ("NVIDIA L40", 181.0, 90.5),          # not the L4 it begins with
    ("NVIDIA L4", 121.0, 60.0),
    ("NVIDIA L40S", 362.0, 183.0),
    ("Tesla V100-PCIE-32GB", 112.0, 14.0),
])
def test_the_device_name_is_matched_exactly(name, half, single):
    assert peak_tflops_for(name, "mixed_bfloat16") == half
    assert peak_tflops_for(name, "mixed_float16") == half
    assert peak_tflops_for(name, "fp32") == single


def test_only_case_and_spacing_are_normalised():
    assert peak_tflops_for("  nvidia   h100 pcie ", "fp32") == 378.0
    assert peak_tflops_for("NVIDIA H100", "fp32") is None
    assert peak_tflops_for("NVIDIA L4 Ti", "fp32") is None


@pytest.fixture
def visible_gpus(monkeypatch):
    """Pretend that `count` GPUs named `name` are visible."""
    def install(name, count):
        gpus = [tf.config.PhysicalDevice(f"/physical_device:GPU:{i}", "GPU")
                for i in range(count)]
        monkeypatch.setattr(tf.config, "list_physical_devices",
                            lambda kind=None: gpus if kind == "GPU" else [])
        monkeypatch.setattr(tf.config.experimental, "get_device_details",
                            lambda device: {"device_name": name})
    return install


def test_the_peak_scales_with_replicas_not_visible_gpus(visible_gpus):
    visible_gpus("NVIDIA H100 PCIe", count=8)
    assert default_peak_tflops("mixed_bfloat16", replicas=2) == 2 * 756.0
    assert default_peak_tflops("fp32", replicas=1) == 378.0


def test_an_unknown_gpu_has_no_peak_and_says_how_to_get_mfu(visible_gpus, caplog):
    visible_gpus("NVIDIA GeForce RTX 4090", count=1)
    with caplog.at_level(logging.INFO, logger="components.train.monitor"):
        assert default_peak_tflops("mixed_bfloat16", replicas=1) is None
    assert "pass --peak_tflops to see MFU" in caplog.text


def test_no_gpu_has_no_peak(visible_gpus):
    visible_gpus("unused", count=0)
    assert default_peak_tflops("fp32", replicas=4) is None
