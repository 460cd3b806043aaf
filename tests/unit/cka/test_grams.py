"""repdyn.cka.grams: the packed upper-triangle storage form and centred Grams."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.cka_oracles import flat64

from repdyn.cka import grams


def test_pack_unpack_round_trip_in_triu_indices_order():
    k = torch.arange(25, dtype=torch.float32).reshape(5, 5)
    k = k + k.T
    packed = grams.pack_upper(k)
    rows, cols = torch.triu_indices(5, 5)
    assert packed.shape == (15,) and torch.equal(packed, k[rows, cols])
    assert torch.equal(grams.unpack_upper(packed, 5), k)
    with pytest.raises(ValueError, match="n=6"):
        grams.unpack_upper(packed, 6)


def test_centred_gram_is_the_gram_of_batch_centred_features():
    x = np.random.default_rng(13).standard_normal((9, 2, 3)) + 4.0
    centred = flat64(x) - flat64(x).mean(0)
    np.testing.assert_allclose(grams.centred_gram(x).numpy(), centred @ centred.T, atol=1e-12)
    assert grams.centred_gram(x.astype(np.float32)).dtype == torch.float32
