"""Two upsampling layers folded into convs over phases (engine.export.phases) compute the same function."""

import pytest
import torch
import torch.nn as nn

from engine.export.phases import PhasePair, fold_last_pair
from engine.export.subpixel import to_subpixel


@pytest.mark.parametrize("first,second", [((4, 2, 1), (4, 2, 1)), ((4, 2, 0), (4, 2, 1)), ((3, 1, 1), (4, 2, 1)),
                                          ((4, 2, 1), (6, 2, 2)), ((3, 3, 0), (4, 2, 1)), ((4, 2, 1), (3, 3, 0))])
def test_folded_pair_is_exact(first, second):
    torch.manual_seed(0)
    model = nn.Sequential(nn.ConvTranspose2d(6, 5, *first), nn.ReLU(), nn.ConvTranspose2d(5, 2, *second), nn.Tanh())
    folded = fold_last_pair(to_subpixel(model))
    assert [type(m) for m in folded] == [PhasePair, nn.Identity, nn.Identity, nn.Identity]
    x = torch.randn(3, 6, 5, 5)
    with torch.no_grad():
        assert (folded(x) - model(x)).abs().max().item() < 1e-5


def test_a_wide_last_layer_is_left_alone():
    model = nn.Sequential(nn.ConvTranspose2d(6, 5, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(5, 8, 4, 2, 1))
    assert not any(isinstance(m, PhasePair) for m in fold_last_pair(to_subpixel(model)))
