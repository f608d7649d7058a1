import importlib.util

import pytest

from engine.cli import main as gan_prune
from engine.models import build_discriminator, build_generator, default_specs
from engine.workspace import Workspace


def needs(*packages: str):
    """Skip, naming the extra, where a package of the edge extra is not installed."""
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed: pip install -e '.[edge]'")


def _workspace(path) -> Workspace:
    ws = Workspace(path)
    gspec = {**default_specs("dcgan", (1, 28, 28), latent_dim=8)[0], "widths": [8, 4]}
    dspec = {**default_specs("dcgan", (1, 28, 28))[1], "widths": [4, 8]}
    G, D = build_generator(gspec), build_discriminator(dspec)
    ck = ws.save_checkpoint("pruned", {"arch": {"generator": gspec, "discriminator": dspec},
                                       "generator": G.state_dict(), "discriminator": D.state_dict(), "ema": None,
                                       "optim": {}, "step": 3, "data": {"dataset": "mnist-5k",
                                                                        "image_shape": [1, 28, 28]}, "seed": 0})
    ws.update_stage("prune", status="done", checkpoint=ws.rel(ck), method="channel-l1", amount=0.5)
    return ws


@pytest.fixture(autouse=True, scope="session")
def _no_tqdm_monitor():
    """The converters' progress bars start tqdm's monitor thread, which the thread check would count as left."""
    try:
        import tqdm
    except ImportError:
        yield
        return
    tqdm.tqdm.monitor_interval = 0
    yield
    if tqdm.tqdm.monitor is not None:
        tqdm.tqdm.monitor.exit()


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """exported("onnx executorch", "fp32 int8") -> (workspace, its export record): one export per set of flags
    for the whole session (converting is the slow part)."""
    done: dict[tuple[str, str], tuple] = {}

    def make(fmt: str, precisions: str):
        if (fmt, precisions) not in done:
            ws = _workspace(tmp_path_factory.mktemp("edge"))
            rc = gan_prune(["export", "--workspace", str(ws.root), "--format", *fmt.split(), "--precision",
                            *precisions.split(), "--calibration", "16", "--bench-runs", "2", "--threads", "1"])
            assert rc == 0
            done[fmt, precisions] = ws, ws.stage("export")
        return done[fmt, precisions]

    return make
