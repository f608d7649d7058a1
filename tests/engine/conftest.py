import dataclasses

import pytest

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig


@pytest.fixture
def tiny_cfg():
    """A config that trains in well under a second: few images, small batches, 3 steps."""

    def make(arch="mlp", steps=3, **train):
        return PipelineConfig(data=DataConfig("mnist-5k", limit=128), model=ModelConfig(arch=arch),
                              train=dataclasses.replace(TrainConfig(steps=steps, batch_size=16, sample_every=2,
                                                                    checkpoint_every=2, device="cpu"), **train))

    return make
