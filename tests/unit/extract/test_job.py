"""The extraction forward's layout: channels-last in chunks on CPUs for wide enough networks, with the same Grams
and raw activations as a contiguous forward of the whole batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import repdyn.extract.job as extract
from repdyn.cka.grams import centred_gram, pack_upper
from repdyn.models import LayerTap, build


def resnet(width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build("preact_resnet18", width=width, in_channels=1).eval()


@pytest.mark.parametrize(
    "width, device, expected",
    [
        (2, "cpu", torch.contiguous_format),
        (4, "cpu", torch.contiguous_format),
        (8, "cpu", torch.channels_last),
        (8, "cuda", torch.contiguous_format),
    ],
)
def test_layout_follows_the_narrowest_convolution(width, device, expected):
    assert extract.forward_layout(resnet(width), torch.device(device)) == expected


def test_chunks_only_for_a_channels_last_cpu_forward():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert extract.forward_chunk(torch.channels_last, cpu, 512) == extract.CPU_FORWARD_CHUNK
    assert extract.forward_chunk(torch.channels_last, cpu, 20) == 20
    assert extract.forward_chunk(torch.contiguous_format, cpu, 512) == 512
    assert extract.forward_chunk(torch.channels_last, cuda, 512) == 512


def test_channels_last_rows_are_a_view_with_the_same_gram():
    maps = torch.randn(6, 5, 3, 4).contiguous(memory_format=torch.channels_last)
    rows = extract.feature_rows(maps)
    assert rows.data_ptr() == maps.data_ptr()  # no copy
    assert not torch.equal(rows, maps.reshape(6, -1))  # another feature order ...
    torch.testing.assert_close(
        centred_gram(rows), centred_gram(maps.reshape(6, -1)), rtol=1e-5, atol=1e-5
    )  # ... same Gram
    assert torch.equal(extract.nchw_rows(maps), maps.contiguous().reshape(6, -1))


def test_chunked_channels_last_extraction_matches_a_contiguous_forward(fmnist, monkeypatch):
    """Width 8 takes the channels-last path; chunks of 8 split the probe batch of 20 into 8 + 8 + 4."""
    monkeypatch.setattr(extract, "CPU_FORWARD_CHUNK", 8)
    model = resnet(8)
    layers = list(model.analysed_layers)
    images = fmnist.probe_images()
    result = extract.probe_grams(
        model, images, fmnist.normalize, layers, torch.device("cpu"), full_gram=True, raw_max_features=1024
    )
    weight = next(m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert not weight.is_contiguous() and weight.is_contiguous(memory_format=torch.channels_last)  # the path taken
    reference = resnet(8)
    with torch.no_grad(), LayerTap(reference, layers) as tap:
        reference(fmnist.normalize(images[0]))
        direct = {layer: value.float() for layer, value in tap.outputs.items()}
    for layer in layers:
        expected = pack_upper(centred_gram(direct[layer])).numpy()
        scale = np.abs(expected).max()
        assert np.abs(result[layer]["grams"][0] - expected).max() <= 1e-5 * scale, layer
        assert np.abs(result[layer]["full"] - expected).max() <= 1e-5 * scale, layer  # one batch: full = batch Gram
    assert set(layer for layer in layers if "raw" in result[layer]) == {"layer4", "linear"}  # <= 1024 features
    for layer in ("layer4", "linear"):
        np.testing.assert_allclose(result[layer]["raw"], direct[layer].numpy(), rtol=1e-4, atol=1e-5)  # NCHW order
