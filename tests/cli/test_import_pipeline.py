"""Your own generator through every stage: a DCGAN written as a person would (tests/fixtures/user_dcgan.py),
trained here by its own loop, saved as a state dict, imported, channel-pruned, fine-tuned by distillation from
itself, evaluated, exported to int8 and drawn by gan-sample."""

import importlib.util
import io
import json

import numpy as np
import torch
from PIL import Image

from engine.workspace import Workspace
from tests.engine.user_model import FIXTURE, import_args, trained_weights
from tests.hostile.inprocess import gan_prune, gan_sample


def test_imported_generator_runs_the_whole_pipeline(tmp_path, capsys):
    g, d = trained_weights(tmp_path / "mine")
    ws = tmp_path / "ws"
    r = gan_prune(capsys, *import_args(ws, g, d))
    assert r.code == 0, r.err
    assert f"This runs the code in {FIXTURE}" in r.out  # said before the file runs

    dense = torch.load(io.BytesIO((ws / "checkpoints" / "dense.pt").read_bytes()), weights_only=True)
    spec = dense["arch"]["generator"]
    assert (spec["arch"], spec["class"], spec["source"], spec["latent_dim"], spec["latent_layout"]) == \
        ("user", "TinyGenerator", str(FIXTURE), 16, "map")
    assert len(spec["sha256"]) == 64 and spec["resized"] == {}
    assert dense["arch"]["discriminator"]["sigmoid_layer"] == "main.6"  # the logit is read before its Sigmoid
    assert torch.equal(dense["generator"]["net.main.0.weight"], torch.load(g, weights_only=True)["main.0.weight"])

    assert gan_prune(capsys, "prune", "-w", str(ws), "--method", "channel-l1", "--amount", "0.5").code == 0
    record = Workspace(ws).read_manifest()["pruning"][-1]
    assert record["layers"]["g"]["net.main.0"] == {"width_before": 32, "width_after": 16, "sparsity": 0.0}
    assert record["layers"]["g"]["net.main.3"]["width_after"] == 8
    assert record["macs_after"]["g"] < 0.35 * record["macs_before"]["g"]
    pruned = torch.load(io.BytesIO((ws / "checkpoints" / "pruned.pt").read_bytes()), weights_only=True)
    assert pruned["arch"]["generator"]["resized"]["main.0"]["tensors"]["weight"] == [16, 16, 7, 7]

    r = gan_prune(capsys, "finetune", "-w", str(ws), "--steps", "4", "--probe-every", "4", "--probe-samples", "256")
    assert r.code == 0, r.err
    r = gan_prune(capsys, "evaluate", "-w", str(ws), "--samples", "256", "--latency-runs", "2", "-q")
    assert r.code == 0, r.err
    report = json.loads((ws / "report.json").read_text())
    names = [v["name"] for v in report["variants"]]
    assert names[:3] == ["dense", "pruned", "finetuned"]
    assert report["variants"][0]["psnr_vs_teacher"] >= 99  # the dense model is its own teacher
    assert report["variants"][2]["macs"] == report["variants"][1]["macs"] < report["variants"][0]["macs"]

    assert gan_prune(capsys, "export", "-w", str(ws), "--precision", "fp32", "int8").code == 0
    int8 = ws / "export" / "generator.int8.onnx"
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(int8)).metadata_props}
    assert (meta["gan.arch"], meta["gan.latent_dim"], meta["gan.image_shape"]) == ("user", "16", "1,28,28")
    out = tmp_path / "grid.png"
    r = gan_sample(capsys, str(int8), "--n", "4", "--seed", "0", "--out", str(out))
    assert r.code == 0, r.err
    assert Image.open(out).size == (2 * 30 + 2, 2 * 30 + 2)  # 2x2 digits of 28 px, 2 px apart


def test_run_config_on_an_imported_model_skips_training(tmp_path, capsys):
    from tests.engine.user_model import saved_weights

    g, d = saved_weights(tmp_path / "mine")
    ws = tmp_path / "ws"
    assert gan_prune(capsys, *import_args(ws, g, d)).code == 0
    config = tmp_path / "run.toml"
    config.write_text('[data]\ndataset = "mnist-5k"\nlimit = 320\n\n[model]\narch = "user"\nlatent_dim = 16\n\n'
                      '[prune]\nmethod = "channel-l2"\namount = 0.25\n')
    r = gan_prune(capsys, "run", str(config), "-w", str(ws))
    assert r.code == 0, r.err
    assert "The trained model is the imported one; training is skipped." in r.err
    manifest = Workspace(ws).read_manifest()
    assert manifest["stages"]["prune"]["status"] == "done" and manifest["pruning"][-1]["method"] == "channel-l2"
    assert manifest["stages"]["train"]["step"] == 0  # still the imported model

    r = gan_prune(capsys, "run", str(config), "-w", str(tmp_path / "empty"))
    assert r.code == 2 and "has none; import it first with 'gan-prune import'" in r.err


def test_an_imported_class_conditional_generator_draws_the_class_asked_for(tmp_path, capsys):
    zoo = FIXTURE.parent / "user_zoo.py"
    torch.manual_seed(0)
    spec = importlib.util.spec_from_file_location("user_zoo_as_written", zoo)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.save(module.CondGen().state_dict(), tmp_path / "G.pt")
    ws = tmp_path / "ws"
    r = gan_prune(capsys, "import", "-w", str(ws), "--generator", str(zoo), "--class", "CondGen", "--weights",
                  str(tmp_path / "G.pt"), "--limit", "320", "--d-warmup-steps", "2")
    assert r.code == 0, r.err
    assert "latents of size 16 as [B, n] and a class label of 10 → images 1x28x28" in r.err
    dense = torch.load(io.BytesIO((ws / "checkpoints" / "dense.pt").read_bytes()), weights_only=True)
    assert dense["task"] == "conditional" and dense["arch"]["generator"]["num_classes"] == 10
    assert (dense["arch"]["discriminator"]["arch"], dense["arch"]["discriminator"]["num_classes"]) == ("dcgan", 10)
    for args in (("prune", "--method", "channel-l1", "--amount", "0.5"),
                 ("finetune", "--steps", "2", "--probe-samples", "0"),
                 ("evaluate", "--samples", "256", "--no-latency", "-q"),
                 ("export", "--precision", "int8")):
        r = gan_prune(capsys, args[0], "-w", str(ws), *args[1:])
        assert r.code == 0, f"{args[0]}: {r.err}"
    finetuned = torch.load(io.BytesIO((ws / "checkpoints" / "finetuned.pt").read_bytes()), weights_only=True)
    assert finetuned["arch"]["generator"]["resized"]["main.0"]["tensors"]["weight"] == [24, 16, 7, 7]
    report = json.loads((ws / "report.json").read_text())
    assert [v["name"] for v in report["variants"]][:3] == ["dense", "pruned", "finetuned"]
    import onnx

    model = onnx.load(str(ws / "export" / "generator.int8.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert (meta["gan.task"], meta["gan.num_classes"]) == ("conditional", "10")
    assert [i.name for i in model.graph.input] == ["z", "label"]
    r = gan_sample(capsys, str(ws / "export" / "generator.int8.onnx"), "--n", "4", "--label", "7", "--out",
                   str(tmp_path / "sevens.png"))
    assert r.code == 0, r.err
    assert Image.open(tmp_path / "sevens.png").size == (2 * 30 + 2, 2 * 30 + 2)


def test_an_imported_image_to_image_generator_runs_the_superres_pipeline(tmp_path, capsys):
    zoo = FIXTURE.parent / "user_zoo.py"
    spec = importlib.util.spec_from_file_location("user_zoo_as_written", zoo)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.TinyUNet().state_dict(), tmp_path / "G.pt")
    ws = tmp_path / "ws"
    args = ["import", "-w", str(ws), "--generator", str(zoo), "--class", "TinyUNet", "--weights",
            str(tmp_path / "G.pt"), "--limit", "320"]
    r = gan_prune(capsys, *args)
    assert r.code == 2 and "turns an image [1, 14, 14] into an image; say which task with --task superres" in r.err
    r = gan_prune(capsys, *args, "--task", "superres")  # x4 by default: 7 px inputs, not the 14 it takes
    assert r.code == 2 and "makes inputs [1, 7, 7] for [1, 28, 28] images, but TinyUNet takes [1, 14, 14]" in r.err
    r = gan_prune(capsys, *args, "--task", "superres", "--scale", "2")
    assert r.code == 0, r.err
    dense = torch.load(io.BytesIO((ws / "checkpoints" / "dense.pt").read_bytes()), weights_only=True)
    assert (dense["task"], dense["arch"]["generator"]["input_shape"], dense["data"]["scale"]) == \
        ("superres", [1, 14, 14], 2)
    assert dense["arch"]["discriminator"]["arch"] == "unet"  # the registry's PatchGAN
    for step in (("prune", "--method", "channel-l1", "--amount", "0.5"),
                 ("finetune", "--steps", "2", "--probe-samples", "0"),
                 ("evaluate", "--samples", "256", "--no-latency", "-q"),
                 ("export", "--precision", "int8")):
        r = gan_prune(capsys, step[0], "-w", str(ws), *step[1:])
        assert r.code == 0, f"{step[0]}: {r.err}"
    pruned = torch.load(io.BytesIO((ws / "checkpoints" / "pruned.pt").read_bytes()), weights_only=True)
    assert pruned["arch"]["generator"]["resized"]["out.0"]["tensors"]["weight"] == [16, 1, 4, 4]
    report = json.loads((ws / "report.json").read_text())
    assert [v["name"] for v in report["variants"]][:4] == ["bicubic", "dense", "pruned", "finetuned"]
    Image.fromarray(np.full((14, 14), 128, np.uint8)).save(tmp_path / "small.png")
    r = gan_sample(capsys, str(ws / "export" / "generator.int8.onnx"), "--input", str(tmp_path / "small.png"),
                   "--out", str(tmp_path / "big.png"))
    assert r.code == 0, r.err
    assert Image.open(tmp_path / "big.png").size == (28, 28)
