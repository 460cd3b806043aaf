"""The two-point toy experiment: the hand-written SGD step, a tiny run and its fits, the validation script."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from repdyn.twopoint import (
    ce_alignment,
    fit_driven,
    fit_invariant,
    fit_late_slope,
    squared_distance,
)
from repdyn.twopoint.toy import ToySetup, sgd_step, train_two_point, two_points
from repdyn.twopoint.toy_model import TwoPointMLP
from repdyn.twopoint.toy_validation import fit_layer, gain_row

TINY = ToySetup(depth=4, width=32, epochs=400, lr=0.02)


@pytest.fixture(autouse=True)
def one_thread():
    """Batch-2 steps are memory-bound: one thread (as the script runs them), restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh"])
def test_hand_written_step_equals_autograd_sgd(activation):
    torch.manual_seed(0)
    mine = TwoPointMLP(5, 40, 1.3, activation)
    reference = TwoPointMLP(5, 40, 1.3, activation)
    reference.load_state_dict(mine.state_dict())
    optimiser = torch.optim.SGD(reference.parameters(), lr=0.01)
    x, target = two_points(ToySetup())
    for _ in range(30):
        _, _, loss = sgd_step(mine, x, target, 0.01)
        out, _ = reference(x)
        ref_loss = 0.5 * torch.nn.functional.mse_loss(out, target)
        optimiser.zero_grad()
        ref_loss.backward()
        optimiser.step()
        # abs: float32 rounding on a small loss
        assert float(loss) == pytest.approx(float(ref_loss.detach()), rel=1e-5, abs=1e-8)
    for p, q in zip(mine.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_tiny_run_is_deterministic_and_its_fitted_rates_are_positive():
    record = train_two_point(TINY)
    again = train_two_point(TINY)
    assert np.array_equal(record.H, again.H) and np.array_equal(record.W, again.W)
    assert record.H.shape == (401, 4) and record.Y.shape == record.W.shape == record.loss.shape == (401,)
    assert record.loss[-1] < 0.1 * record.loss[0]
    fit = fit_layer(record, 2)
    assert np.isfinite([fit.eta_h, fit.eta_y, fit.error]).all() and fit.eta_h > 0 and fit.eta_y > 0
    assert fit.error < 3.0  # better than predicting zero for all three series
    row = gain_row(record, 2)
    assert row.H0 == record.H[0, 2] and np.isfinite(row.laziness)
    stopped = train_two_point(ToySetup(depth=4, width=32, epochs=400, lr=0.02, stop_loss=float(record.loss[200])))
    assert stopped.epochs[-1] <= 201 and stopped.loss[-1] < record.loss[200] * (1 + 1e-6)


@pytest.mark.slow  # a script in a subprocess: ~50 s on 2 busy cores
def test_validation_script_runs_at_a_tiny_size(repo, tmp_path):
    args = [
        "--depth",
        "3",
        "--width",
        "16",
        "--epochs",
        "300",
        "--layer",
        "1",
        "--inits",
        "2",
        "--gains",
        "0.5",
        "1.0",
        "--grid-dx",
        "0.5",
        "1.5",
        "--grid-dy",
        "0.5",
        "--figures",
        str(tmp_path / "fig"),
        "--cache",
        str(tmp_path / "cache"),
        "--json",
        str(tmp_path / "out.json"),
    ]
    done = subprocess.run(
        [sys.executable, str(repo / "scripts" / "twopoint_toy.py"), *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["synthetic"]["fitted"] == pytest.approx([0.004, 0.02], rel=1e-3)
    assert len(out["depth_profile"]) == 3 and len(out["gains"]) == 2 and len(out["final_distance"]) == 2
    assert all(f["eta_h"] > 0 and f["eta_y"] > 0 for f in out["inits"])
    assert len(out["control"]) == 2
    assert all(c["theory"] < c["theory, epochs shuffled"] for c in out["control"])
    assert {p.name for p in (tmp_path / "fig").iterdir()} == {
        "trajectories.png",
        "depth_profile.png",
        "rich_lazy.png",
        "final_distance.png",
    }


def cross_entropy_two_point_run(seed: int, epochs: int = 1500) -> tuple[np.ndarray, ...]:
    """A real cross-entropy run: the toy MLP with two logits, labels 0 and 1, full-batch SGD (autograd)."""
    torch.manual_seed(seed)
    model = TwoPointMLP(depth=6, width=64, gain=1.0, out_features=2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    x, labels, pairs = torch.tensor([[-1.0], [0.0]]), np.array([0, 1]), np.array([[0, 1]])
    H, Y, W = [], [], []
    for _ in range(epochs + 1):
        logits, hiddens = model(x)
        z = logits.detach().numpy()
        H.append(squared_distance(hiddens[3].detach().numpy(), pairs)[0])
        Y.append(squared_distance(z, pairs)[0])
        W.append(ce_alignment(z, labels, pairs)[0])
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)).backward()
        optimiser.step()
    return np.arange(epochs + 1.0), np.array(H), np.array(Y), np.array(W)


@pytest.mark.parametrize("seed", [0, 1])
def test_cross_entropy_readings_beat_their_baselines_on_a_real_run(seed):
    t, H, Y, W = cross_entropy_two_point_run(seed)
    invariant = fit_invariant(H, Y)
    assert invariant.kappa > 0 and invariant.r2 > 0.95 and invariant.r2 > invariant.r2_shuffled + 0.3
    driven = fit_driven(t, H, Y, W)
    assert driven.error < 0.1 and driven.error_shuffled > 3 * driven.error
    late = fit_late_slope(t, H, Y, start=500.0)
    assert 0.35 < late.slope < 0.65 and late.r2 > 0.95 and late.r2_shuffled < 0.2
