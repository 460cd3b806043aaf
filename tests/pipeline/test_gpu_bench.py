"""bench/gpu.py's CPU part (--tiny): every stage runs on real Fashion-MNIST and every check passes.

The full run (width 64, CUDA, a few minutes) is for a machine with a GPU; this is its seconds-long CI form,
so that the script cannot rot between the occasions when a GPU is available.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.configs import require_fashion_mnist

EXPECTED_RATES = {
    "train_images_per_s",
    "extract_epochs_per_s",
    "extract_images_per_s",
    "diagonal_tile_gflops",
    "general_tile_gflops",
    "bare_float64_gemm_gflops",
    "planes_float32_channels_last_points_per_s",
    "forward_float32_channels_last_images_per_s",
    "planes_bf16_channels_last_points_per_s",
    "forward_bf16_contiguous_images_per_s",
}
EXPECTED_CHECKS = {
    "training_bit_identical",
    "deterministic_kernels_on_inside",
    "deterministic_kernels_restored",
    "gram_matmul_ieee_inside_guard",
    "gram_relative_error_below_1e-5",
    "gram_precision_restored",
    "autocast_convolutions_bf16",
    "bf16_predictions_agree_on_most_points",
    "memory_formats_agree_in_float32",
}


@pytest.mark.slow  # a script in a subprocess: ~50 s on 2 busy cores
def test_tiny_gpu_check_runs_on_cpu_and_writes_one_json(repo, tmp_path):
    require_fashion_mnist()
    out = tmp_path / "tiny.json"
    done = subprocess.run(
        [sys.executable, str(repo / "bench" / "gpu.py"), "--tiny", "--threads", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["sizes"]["width"] == 2
    assert EXPECTED_RATES <= set(report["rates"])
    assert all(report["rates"][k] > 0 for k in EXPECTED_RATES)
    assert set(report["checks"]) == EXPECTED_CHECKS and report["all_checks_pass"] is True
    assert report["rates"]["gram_relative_error"] < 1e-5
