import importlib.util

import pytest

from engine.cli import main as gan_prune
from tests.engine.tiny import pruned_dcgan_workspace


def needs(*packages: str):
    """Skip, naming the extra, where a package of the edge extra is not installed."""
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed: pip install -e '.[edge]'")




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
            ws = pruned_dcgan_workspace(tmp_path_factory.mktemp("edge"))
            rc = gan_prune(["export", "--workspace", str(ws.root), "--format", *fmt.split(), "--precision",
                            *precisions.split(), "--calibration", "16", "--bench-runs", "2", "--threads", "1"])
            assert rc == 0
            done[fmt, precisions] = ws, ws.stage("export")
        return done[fmt, precisions]

    return make
