"""gan-prune run CONFIG.toml: every stage from one file, validated before any work starts."""

from engine.cli import main

TINY = """
[data]
dataset = "mnist-5k"
limit = 64
[model]
arch = "dcgan"
[train]
steps = 2
batch_size = 8
device = "cpu"
[prune]
method = "channel-l1"
amount = 0.5
device = "cpu"
[export]
precisions = ["fp32"]
bench_runs = 1
"""


def test_a_config_runs_train_prune_and_export(tmp_path, capsys):
    cfg = tmp_path / "pipeline.toml"
    cfg.write_text(TINY)
    ws = tmp_path / "ws"
    assert main(["run", str(cfg), "-w", str(ws), "-q"]) == 0, capsys.readouterr().err
    assert (ws / "checkpoints" / "pruned.pt").exists()
    assert (ws / "export" / "generator.onnx").exists()
    assert "[prune]" in (ws / "config.toml").read_text()


def test_bad_tables_are_refused_before_training(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(TINY.replace('amount = 0.5', 'amount = 1.5'))
    assert main(["run", str(cfg), "-w", str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "amount" in err[0]
    assert not (tmp_path / "ws" / "checkpoints" / "dense.pt").exists()
    cfg.write_text(TINY + "\n[deploy]\nx = 1\n")
    assert main(["run", str(cfg), "-w", str(tmp_path / "ws")]) == 2
    assert "Unknown section(s) [deploy]" in capsys.readouterr().err


def test_a_missing_config_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml"), "-w", str(tmp_path / "ws")]) == 2
    assert "does not exist" in capsys.readouterr().err
