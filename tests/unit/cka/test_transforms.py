"""repdyn.cka.transforms: the layout of a transform and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.cka_oracles import hsic0_trace, hsic1_three_term

from repdyn.cka import grams, transforms


def test_transform_layout_and_errors():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((12, 4))
    packed = [grams.pack_upper(grams.centred_gram(x[:7])), grams.pack_upper(grams.centred_gram(x[7:]))]
    unbiased = transforms.transform(packed, [7, 5], "minibatch_unbiased")
    biased = transforms.transform(packed, [7, 5], "minibatch_biased")
    assert unbiased.shape == (21 + 10,) and biased.shape == (28 + 15,)
    k = x[:7] @ x[:7].T
    assert (unbiased[:21] @ unbiased[:21]).item() == pytest.approx(hsic1_three_term(k, k), rel=1e-12)
    assert (biased[:28] @ biased[:28]).item() == pytest.approx(hsic0_trace(k, k), rel=1e-12)
    assert torch.equal(transforms.transform(packed, [7, 5], "minibatch_unbiased_cka_mean"), unbiased)
    with pytest.raises(ValueError, match="batch 1: packed Gram for n=6"):
        transforms.transform(packed, [7, 6], "minibatch_biased")
    with pytest.raises(ValueError, match="one Gram of all examples"):
        transforms.transform(packed, [7, 5], "full_biased")
