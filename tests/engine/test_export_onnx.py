"""Every arch exports to single-file ONNX that matches torch, carries the contract metadata and any batch size."""

import numpy as np
import onnx
import pytest
import torch

from engine.export.onnx import export_generator, ort_session, parity, read_metadata
from engine.models import build_generator, default_specs

TINY = {
    ("mlp", 1): {"widths": [32, 64]},
    ("mlp", 3): {"widths": [32]},
    ("dcgan", 1): {"widths": [16, 8]},
    ("dcgan", 3): {"widths": [16, 8, 8]},
    ("resnet", 1): {"channels": [16, 8, 8], "blocks": [[4], [], []]},
    ("resnet", 3): {"channels": [16, 8, 8, 8], "blocks": [[], [4], [], []]},
}


@pytest.mark.parametrize("arch,shape", [(a, (1, 28, 28)) for a in ("mlp", "dcgan", "resnet")]
                         + [(a, (3, 32, 32)) for a in ("mlp", "dcgan", "resnet")])
def test_export_parity_metadata_and_batches(tmp_path, arch, shape):
    torch.manual_seed(0)
    G = build_generator({**default_specs(arch, shape, latent_dim=12)[0], **TINY[(arch, shape[0])]})
    G.train()
    with torch.no_grad():
        G(torch.randn(8, 12))
    G.eval()
    path = export_generator(G, tmp_path / "g.onnx", {"dataset": "mnist-5k", "pruning": {"method": "channel-l1"}})
    assert parity(G, path) <= 1e-4

    meta = read_metadata(path)
    assert meta["gan.latent_dim"] == "12"
    assert meta["gan.image_shape"] == ",".join(map(str, shape))
    assert meta["gan.output_range"] == "-1,1"
    assert meta["gan.arch"] == arch and meta["gan.dataset"] == "mnist-5k" and meta["gan.precision"] == "fp32"
    assert meta["gan.pruning"] == '{"method":"channel-l1"}'
    assert meta["gan.producer"].startswith("GAN Pruning Studio ")

    model = onnx.load(str(path))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert [i.name for i in model.graph.input] == ["z"] and [o.name for o in model.graph.output] == ["image"]
    assert not (tmp_path / "g.onnx.data").exists()
    session = ort_session(path)
    for batch in (1, 5):
        out = session.run(["image"], {"z": np.zeros((batch, 12), np.float32)})[0]
        assert out.shape == (batch, *shape) and out.dtype == np.float32
