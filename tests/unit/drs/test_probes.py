"""repdyn.drs.probes: the feature cache (RAM vs scratch files, memory budget) and linear probes.

Real Fashion-MNIST through a width-2 pre-activation ResNet-18; synthetic
features only for the known answers (linearly separable classes, ties).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from support import REPO
from support.configs import FASHION_MNIST
from torch import nn

from repdyn.config.probe_schedule import probe_epochs, steps_per_epoch
from repdyn.drs.probe_job import warn_if_output_probe_underfits
from repdyn.drs.probes import (
    FeatureCache,
    init_probe,
    pool_output,
    predict,
    probe_error,
    probe_errors,
    shuffle_order,
    train_probes,
)
from repdyn.models import LayerTap, build

FMNIST = FASHION_MNIST / "train-images-idx3-ubyte.gz"
SRC = REPO / "src"


@pytest.fixture(scope="module")
def model(fmnist) -> nn.Module:
    torch.manual_seed(0)
    return build("preact_resnet18", width=2, in_channels=fmnist.in_channels)


@pytest.fixture(scope="module")
def ram_cache(model, fmnist):
    with FeatureCache.build(
        model,
        model.analysed_layers,
        fmnist.train_images,
        fmnist.normalize,
        batch_size=64,
        memory_budget_bytes=None,
        device="cpu",
    ) as cache:
        yield cache


# ---------------------------------------------------------------- feature cache


def test_cache_holds_the_flattened_layer_outputs(ram_cache, model, fmnist):
    assert ram_cache.mode == "ram" and ram_cache.num_examples == 200
    assert ram_cache.layers == model.analysed_layers
    assert ram_cache.dims == {"conv1": 2048, "layer1": 2048, "layer2": 1024, "layer3": 512, "layer4": 256, "linear": 10}
    idx = np.array([5, 199, 0, 42])
    model.eval()
    with torch.no_grad(), LayerTap(model, model.analysed_layers) as tap:
        model(fmnist.normalize(fmnist.train_images[idx]))
        direct = {k: v.numpy() for k, v in tap.outputs.items()}
    for name, rows in ram_cache.read(idx).items():
        np.testing.assert_allclose(rows, direct[name], rtol=1e-5, atol=1e-5, err_msg=name)
    assert model.training is False  # fixture order: eval here; build restores the mode it found
    model.train()
    FeatureCache.build(model, ["linear"], fmnist.train_images[:8], fmnist.normalize, 4, None, "cpu").close()
    assert model.training is True
    model.eval()


def test_disk_cache_equals_ram_cache_and_cleans_up(ram_cache, model, fmnist, tmp_path):
    budget = ram_cache.nbytes - 1
    cache = FeatureCache.build(
        model,
        model.analysed_layers,
        fmnist.train_images,
        fmnist.normalize,
        batch_size=48,
        memory_budget_bytes=budget,
        device="cpu",
        scratch_dir=tmp_path,
    )
    assert cache.mode == "disk"
    assert len(list(tmp_path.rglob("*.f32"))) == 6
    order = shuffle_order(3, 0, 200)
    for (i_ram, f_ram), (i_disk, f_disk) in zip(ram_cache.batches(order, 37), cache.batches(order, 37)):
        assert np.array_equal(i_ram, i_disk)
        for name in f_ram:
            assert torch.equal(f_ram[name], f_disk[name]), name
    labels = fmnist.train_labels
    probes_ram = train_probes(ram_cache, labels, 10, epochs=2, batch_size=32, seed=5)
    probes_disk = train_probes(cache, labels, 10, epochs=2, batch_size=32, seed=5)
    for name in probes_ram:
        for ram, disk in zip(probes_ram[name], probes_disk[name]):
            assert torch.equal(ram, disk), name
    cache.close()
    assert list(tmp_path.rglob("*.f32")) == []


def test_pooling_shapes(model, fmnist):
    conv, tokens, logits = torch.randn(3, 4, 5, 6), torch.randn(3, 7, 8), torch.randn(3, 10)
    assert pool_output(conv, "none").shape == (3, 120)
    assert torch.allclose(pool_output(conv, "avg"), conv.mean(dim=(2, 3)))
    assert torch.equal(pool_output(tokens, "cls_token"), tokens[:, 0])
    assert torch.allclose(pool_output(tokens, "avg"), tokens.mean(dim=1))
    assert torch.equal(pool_output(logits, "avg"), logits)
    with pytest.raises(ValueError, match="pooling 'max'"):
        pool_output(conv, "max")
    with FeatureCache.build(
        model, ["layer2", "linear"], fmnist.train_images[:10], fmnist.normalize, 5, None, "cpu", pooling="avg"
    ) as cache:
        assert cache.dims == {"layer2": 4, "linear": 10}


def test_bad_inputs_are_named(model, fmnist, ram_cache):
    with pytest.raises(ValueError, match="images_uint8"):
        floats = fmnist.normalize(fmnist.train_images[:4])
        FeatureCache.build(model, ["linear"], floats, fmnist.normalize, 4, None, "cpu")
    with pytest.raises(ValueError, match="unknown module"):
        FeatureCache.build(model, ["nope"], fmnist.train_images[:4], fmnist.normalize, 4, None, "cpu")
    with pytest.raises(ValueError, match="labels must lie"):
        train_probes(ram_cache, np.full(200, 10), 10, epochs=1)
    with pytest.raises(ValueError, match="one entry per cached example"):
        train_probes(ram_cache, np.zeros(199, dtype=np.int64), 10, epochs=1)


# ---------------------------------------------------------------- probes


def test_same_seed_same_weights_other_seed_different(ram_cache, fmnist):
    a = train_probes(ram_cache, fmnist.train_labels, 10, epochs=2, seed=11)
    b = train_probes(ram_cache, fmnist.train_labels, 10, epochs=2, seed=11)
    c = train_probes(ram_cache, fmnist.train_labels, 10, epochs=2, seed=12)
    for name, (w, bias) in a.items():
        assert w.shape == (10, ram_cache.dims[name]) and bias.shape == (10,) and w.dtype == torch.float32
        assert torch.equal(w, b[name][0]) and torch.equal(bias, b[name][1])
        assert not torch.equal(w, c[name][0])
    assert not np.array_equal(shuffle_order(11, 0, 200), shuffle_order(11, 1, 200))


def test_init_is_pytorch_linear_default():
    gen = torch.Generator().manual_seed(0)
    w, b = init_probe(400, 7, gen)
    bound = 1 / 400**0.5
    assert w.shape == (7, 400) and b.shape == (7,)
    assert w.abs().max() <= bound and b.abs().max() <= bound
    assert w.abs().max() > 0.95 * bound  # uniform over the whole interval, not a narrower one
    ref = nn.Linear(400, 7)
    torch.manual_seed(0)
    ref.reset_parameters()
    w2, b2 = init_probe(400, 7, torch.Generator().manual_seed(0))
    assert torch.equal(ref.weight.detach(), w2) and torch.equal(ref.bias.detach(), b2)


def test_linearly_separable_classes_reach_zero_error():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    centres = 3.0 * np.eye(4, 16)
    feats = centres[labels] + 0.3 * rng.standard_normal((400, 16))
    test_labels = rng.integers(0, 4, 200)
    test_feats = centres[test_labels] + 0.3 * rng.standard_normal((200, 16))
    with FeatureCache.from_arrays({"x": feats}) as cache, FeatureCache.from_arrays({"x": test_feats}) as test:
        before = probe_errors({"x": init_probe(16, 4, torch.Generator().manual_seed(1))}, cache, labels)["x"]
        probes = train_probes(cache, labels, 4, epochs=30, lr=0.05, batch_size=32, seed=0)
        assert before > 0.2
        assert probe_errors(probes, cache, labels) == {"x": 0.0}
        assert probe_errors(probes, test, test_labels)["x"] == 0.0
        w, b = probes["x"]
        assert probe_error(w, b, test_feats, test_labels) == 0.0


def test_min_steps_sets_the_number_of_passes():
    assert steps_per_epoch(50_000, 128) == 391
    assert probe_epochs(10, 3910, 50_000, 128) == 10  # the paper's recipe on CIFAR-10: the floor changes nothing
    assert probe_epochs(10, 3910, 500, 128) == 978  # 4 steps per pass on 500 images
    assert probe_epochs(10, 41, 500, 128) == 11 and probe_epochs(10, 0, 500, 128) == 10
    with pytest.raises(ValueError, match="min_steps"):
        probe_epochs(10, -1, 500, 128)


def test_the_step_floor_brings_a_logits_probe_to_the_networks_error_and_silences_the_warning(caplog):
    """Known answer: 'logits' that a network classifies perfectly (4 x one-hot of the label plus noise).
    One pass alone (4 steps here) leaves the probe near its random start; the floor trains it."""
    rng = np.random.default_rng(0)
    labels = torch.from_numpy(rng.integers(0, 10, 500))
    logits = 4.0 * np.eye(10)[labels.numpy()] + 0.5 * rng.standard_normal((500, 10))
    with FeatureCache.from_arrays({"linear": logits}) as cache:
        errors = {}
        for min_steps in (0, 1000):
            passes = probe_epochs(1, min_steps, cache.num_examples, 128)
            probes = train_probes(cache, labels, 10, epochs=passes, lr=1e-3, batch_size=128, seed=0)
            errors[min_steps] = probe_errors(probes, cache, labels)
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="repdyn.drs.probe_job"):
                warn_if_output_probe_underfits(cache, errors[min_steps], labels, 10, torch.device("cpu"))
            assert ("under-trained" in caplog.text) == (min_steps == 0), (min_steps, errors[min_steps])
    assert errors[0]["linear"] > 0.5 and errors[1000]["linear"] < 0.01


def test_predict_ties_go_to_smallest_index():
    w = torch.zeros(5, 3)
    b = torch.tensor([1.0, 3.0, 3.0, 0.0, 3.0])
    x = torch.randn(4, 3)
    pred = predict(w, b, x)
    assert pred.dtype == torch.uint8 and pred.tolist() == [1, 1, 1, 1]
    # many exact ties among small-integer logits: same answer as numpy's first-occurrence argmax
    rng = np.random.default_rng(0)
    feats = np.eye(6, dtype=np.float32)[rng.integers(0, 6, 500)]
    weight = rng.integers(0, 3, (8, 6)).astype(np.float32)
    out = predict(weight, np.zeros(8, np.float32), feats)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert np.array_equal(out, np.argmax(feats @ weight.T, axis=1))
    assert torch.equal(torch.from_numpy(out).long(), torch.argmax(torch.from_numpy(feats @ weight.T), dim=1))
    nan_b = torch.tensor([0.0, float("nan"), 5.0])
    assert predict(torch.zeros(3, 3), nan_b, x).tolist() == [1] * 4


# ---------------------------------------------------------------- memory budget

_PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch
    from torch import nn
    from repdyn.drs.probes import FeatureCache, train_probes

    torch.set_num_threads(1)
    scratch, budgets = sys.argv[1], [int(b) for b in sys.argv[2:]]
    model = nn.Sequential()
    model.add_module("up", nn.Upsample(scale_factor=4))  # 1x32x32 -> 1x128x128: 64 KiB of features per image
    model.add_module("pool", nn.AdaptiveAvgPool2d(2))
    n = 4800  # 4800 x (16384 + 4) float32 = 315 MB of features
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (n, 1, 32, 32), dtype=np.uint8))
    labels = np.random.default_rng(1).integers(0, 10, n)
    normalize = lambda x: x.float() / 255.0

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024

    # Warm-up: the first optimizer step imports torch._dynamo (~150 MB of modules, once per process),
    # which has nothing to do with the feature budget.
    with FeatureCache.from_arrays({"w": np.zeros((8, 4))}) as warm:
        train_probes(warm, np.zeros(8, dtype=np.int64), 10, epochs=1)
    for budget in budgets:
        open("/proc/self/clear_refs", "w").write("5")  # reset the peak-RSS mark (VmHWM, ru_maxrss)
        base = status("VmRSS")
        build_args = (model, ["up", "pool"], images, normalize, 200, budget, "cpu")
        with FeatureCache.build(*build_args, scratch_dir=scratch) as cache:
            train_probes(cache, labels, 10, epochs=1, batch_size=128, seed=0)
            mode, nbytes = cache.mode, cache.nbytes
        print(json.dumps({"mode": mode, "nbytes": nbytes, "growth": status("VmHWM") - base}))
    """
)


def test_peak_memory_stays_under_budget_when_streaming(tmp_path):
    """Streamed first, then in RAM, in one process: the RAM run shows that the measurement can fail."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("cannot reset the peak-RSS mark (/proc/self/clear_refs not writable)")
    budget = 100 * 2**20
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(tmp_path), str(budget), str(2**40)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    streamed, in_ram = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert streamed["mode"] == "disk" and in_ram["mode"] == "ram"
    assert streamed["nbytes"] > 3 * budget
    assert in_ram["growth"] > budget, in_ram  # the measurement sees the whole cache when it is in RAM ...
    assert streamed["growth"] < budget, streamed  # ... and the streamed cache stays under the budget
    assert list(tmp_path.iterdir()) == []
