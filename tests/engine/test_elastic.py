"""The elastic student: sorted channels keep the function, any size extracts to the same numbers, the sandwich step
trains, the width search on a toy table, and the file any size is taken from."""

import pytest
import torch

from engine.distill import DistillWeights
from engine.distill.elastic import ElasticGenerator
from engine.distill.elastic_file import extract, load_elastic, save_elastic
from engine.distill.sandwich import SandwichSettings, SandwichTrainer
from engine.errors import ConfigError, WorkspaceError
from engine.metrics.complexity import layer_table
from engine.models import build_generator
from engine.stages.compress.width_search import WidthSearch, drive


def toy(arch: str = "dcgan", widths=(16, 8)) -> torch.nn.Module:
    torch.manual_seed(0)
    shape = [1, 28, 28] if arch in ("dcgan", "conditional") else [1, 8, 8]
    extra = {"num_classes": 10, "embed_dim": 4} if arch == "conditional" else {}
    return build_generator({"arch": "dcgan" if arch == "conditional" else arch, "role": "generator", "latent_dim": 8,
                            "image_shape": shape, "widths": list(widths), **extra})


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_sorting_the_channels_keeps_the_dense_function(arch):
    G = toy(arch).eval()
    for m in G.modules():  # non-trivial BatchNorm stats, so a wrong permutation would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.data.uniform_(0.5, 2)
    elastic = ElasticGenerator.from_dense(G)
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.allclose(elastic.model.eval()(z), G(z), atol=1e-5)
    assert [g.channels for g in elastic.groups] == [16, 8]


@pytest.mark.parametrize("arch,widths", [("dcgan", {"net.0": 6, "net.3": 3}), ("mlp", {"net.0": 5, "net.2": 2}),
                                         ("conditional", {"net.0": 3, "net.3": 5})])
def test_an_extracted_size_gives_the_elastic_forward_numbers(arch, widths):
    elastic = ElasticGenerator.from_dense(toy(arch))
    pruned = elastic.extract(widths)  # calibrates BatchNorm at these widths first
    z = torch.randn(5, 8)
    inputs = (z, torch.tensor([3, 1, 4, 1, 5])) if arch == "conditional" else (z,)
    with torch.no_grad():
        assert torch.equal(elastic(*inputs), pruned(*inputs))
    assert pruned.spec()["widths"] == list(widths.values())
    assert elastic.macs(widths) == sum(r.macs for r in layer_table(pruned))
    assert elastic.params(widths) == sum(p.numel() for p in pruned.parameters())
    assert elastic.macs() == sum(r.macs for r in layer_table(toy(arch)))


def test_the_sandwich_step_trains_every_size_on_a_toy_model():
    elastic = ElasticGenerator.from_dense(toy())
    before = {k: v.clone() for k, v in elastic.model.state_dict().items()}
    trainer = SandwichTrainer(elastic, SandwichSettings(batch_size=8, grid=(1.0, 0.5, 0.25)),
                              DistillWeights(1.0, 1.0, 0.0), torch.device("cpu"))
    sizes = trainer.subnets()
    assert sizes[0] == {"net.0": 16, "net.3": 8} and sizes[1] == {"net.0": 4, "net.3": 2} and len(sizes) == 4
    values = [trainer.train_step() for _ in range(2)]
    trainer.close()
    assert all(torch.isfinite(torch.tensor(list(v.values()))).all() for v in values)
    assert {"largest", "smallest", "random1", "random2"} <= set(values[0])
    after = elastic.model.state_dict()
    last = after["net.3.weight"]  # ConvTranspose [in, out, k, k]: the smallest size's block trained, so it moved
    assert not torch.equal(last[:4, :2], before["net.3.weight"][:4, :2])
    assert elastic.widths == elastic.dense_widths  # left at full width


def test_a_generator_whose_channels_are_concatenated_is_refused_in_one_sentence():
    class Skip(torch.nn.Module):
        latent_dim = 8

        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(8, 6), torch.nn.Linear(14, 4)

        def forward(self, z):
            return self.b(torch.cat([z, self.a(z)], 1))

    with pytest.raises(ConfigError, match="cannot be made elastic.*--search trials"):
        ElasticGenerator.from_dense(Skip())


def table_search(budget, goal=None):
    """A toy table: 2 groups, 5 steps; MACs fall with the steps, FID rises, group 1 costs 3x group 0."""
    macs = lambda s: (5 - s[0]) * 10 + (5 - s[1]) * 30  # noqa: E731
    fid = lambda s: 10 + s[0] * 1 + s[1] * 2  # noqa: E731
    search = WidthSearch(2, 5, macs, budget, goal)
    return search, drive(search, fid), macs, fid


def test_the_width_search_finds_the_fewest_macs_within_budget_on_a_toy_table():
    search, best, macs, fid = table_search(budget=16.0)
    feasible = [(a, b) for a in range(5) for b in range(5) if fid((a, b)) <= 16.0]
    assert fid(best) <= 16.0 and macs(best) == min(macs(s) for s in feasible)
    assert len(search.scored) < 25  # it did not score every config
    assert table_search(budget=9.0)[1] is None  # not even the dense widths (FID 10) keep quality


def test_a_goal_ends_the_width_search_at_the_first_size_that_small():
    search, best, macs, fid = table_search(budget=100.0, goal=60)
    assert macs(best) <= 60 and len(search.scored) == 1


def test_the_elastic_file_loads_weights_only_and_gives_any_size(tmp_path):
    elastic = ElasticGenerator.from_dense(toy())
    path = tmp_path / "elastic.pt"
    save_elastic(path, elastic, sizes=[{"widths": {"net.0": 8, "net.3": 2}, "macs": elastic.macs({"net.0": 8,
                                                                                                "net.3": 2}),
                                       "probe_fid": 5.0, "feasible": True}])
    torch.load(path, weights_only=True)
    loaded, data = load_elastic(path)
    assert torch.equal(loaded.model.state_dict()["net.3.weight"], elastic.model.state_dict()["net.3.weight"])
    G, macs, widths = extract(path, 4.0)  # the scored size is within 4x: it is taken
    assert widths == {"net.0": 8, "net.3": 2} and macs <= elastic.macs() / 4
    G, macs, widths = extract(path, 1.5)  # not scored: the largest equal share within 1.5x
    assert macs <= elastic.macs() / 1.5 and G.spec()["widths"] == list(widths.values())
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WorkspaceError, match="corrupt"):
        load_elastic(tmp_path / "bad.pt")


@pytest.mark.parametrize("cls, elastic_groups", [("MLPGen", ["net.body.0", "net.body.3"]),
                                                 ("ProjGen", ["net.up.3"])])  # its Linear→view stays whole
def test_an_imported_generator_is_elastic_where_its_channels_can_be_sliced(cls, elastic_groups):
    from engine.models import build_generator
    from tests.engine.test_user_models import imported

    G = imported(cls)
    elastic = ElasticGenerator.from_dense(G)
    assert [g.name for g in elastic.groups] == elastic_groups
    widths = elastic.widths_at(0.5)
    pruned = elastic.extract(widths)
    rebuilt = build_generator(pruned.spec())  # the prune stage's format: file + hash + pruned shapes
    rebuilt.load_state_dict(pruned.state_dict())
    z = torch.randn(3, G.latent_dim)
    with torch.no_grad():
        assert torch.equal(elastic(z), pruned(z)) and torch.equal(rebuilt.eval()(z), pruned(z))
    assert elastic.macs(widths) == sum(r.macs for r in layer_table(pruned))
