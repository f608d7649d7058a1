"""gan-prune prune / layers / sensitivity / finetune from the command line; bad input exits 2 with one line."""

import json

import pytest

from engine.cli import main
from tests.engine.tiny import dense_workspace


@pytest.fixture
def workspace(tmp_path):
    return dense_workspace(tmp_path / "ws")


def test_layers_prune_sensitivity_and_finetune(workspace, capsys):
    w = str(workspace.root)
    assert main(["layers", "--workspace", w]) == 0
    out = capsys.readouterr().out
    assert "net.3" in out and "ConvTranspose2d" in out and "output" in out
    assert main(["prune", "-w", w, "--method", "channel-l2", "--amount", "0.5", "--target", "gd", "--round-to", "4",
                 "-q"]) == 0
    rec = json.loads((workspace.root / "manifest.json").read_text())["pruning"][-1]
    assert rec["layers"]["g"]["net.0"]["width_after"] == 16 and rec["round_to"] == 4
    assert main(["sensitivity", "-w", w, "--amounts", "0.5", "-q"]) == 0
    assert (workspace.root / "sensitivity.csv").exists()
    assert main(["finetune", "-w", w, "--steps", "2", "--batch-size", "8", "--device", "cpu", "-q"]) == 0
    assert workspace.stage("finetune")["step"] == 2


@pytest.mark.parametrize("argv,needle", [
    (["prune", "--method", "channel-l9", "--amount", "0.5"], "choose one of"),
    (["prune", "--method", "channel-l1", "--amount", "1.5"], "between 0 and 1"),
    (["prune", "--method", "l1-unstructured", "--layers", "net.7"], "net.7"),
    (["prune", "--method", "block"], "residual blocks"),
    (["sensitivity", "--amounts", "0.5,x"], "--amounts"),
])
def test_bad_input_exits_2_with_one_line(workspace, capsys, argv, needle):
    assert main(argv[:1] + ["-w", str(workspace.root)] + argv[1:]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
