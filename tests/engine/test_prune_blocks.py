"""Block pruning removes whole residual blocks, least important first; an arch without blocks is refused."""

import pytest
import torch

from engine.errors import ConfigError
from engine.models import build_generator, default_specs
from engine.prune.blocks import block_scores, remove_blocks


def _resnet():
    torch.manual_seed(0)
    spec = default_specs("resnet", (1, 28, 28), latent_dim=16)[0]
    return build_generator({**spec, "channels": [16, 8, 8], "blocks": [[8, 8], [4, 4], []]})


@pytest.mark.parametrize("criterion", ["l1", "psnr"])
def test_the_least_important_blocks_go_and_the_generator_still_works(criterion):
    G = _resnet()
    with torch.no_grad():
        G.stages[1][0].body[-1].weight.mul_(1e-3)  # nearly the identity: the obvious first choice
    z = torch.randn(4, 16)
    scores = block_scores(G, criterion, z)
    assert min(scores, key=scores.get) == "stages.1.0"
    removed = remove_blocks(G, 0.5, criterion, z)
    assert len(removed) == 2 and "stages.1.0" in removed
    assert sum(len(b) for b in G.spec()["blocks"]) == 2
    assert G(z).shape == (4, 1, 28, 28)


def test_block_pruning_on_an_arch_without_blocks_is_a_config_error():
    G = build_generator(default_specs("dcgan", (1, 28, 28), latent_dim=16)[0])
    with pytest.raises(ConfigError, match="no|none"):
        remove_blocks(G, 0.5, "l1", arch="dcgan")
