"""gan-sample as a demanding user runs it (issue 20): it never overwrites an input picture or one of its own
outputs, reads a picture exactly as training reads it, runs fixed-batch and integer-input models or says why in one
line, caps threads at the machine, and checks --out the same way on every path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto
from PIL import Image

from tests.engine.test_ondevice import tiny_generator
from tests.hostile.conftest import assert_refused, run_cli, snapshot
from tests.hostile.inprocess import gan_sample
from tests.hostile.sampler_models import classifier, conditional_generator, copy_model, with_external_data


def _pictures(folder: Path, names=("a.png", "b.png", "c.png"), side=4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        value = 40 + 50 * i  # each picture its own gray, so an output shows which input it came from
        Image.fromarray(np.full((side, side), value, np.uint8)).save(folder / name)
    return folder


def _gray(path: Path) -> int:
    return int(np.asarray(Image.open(path).convert("L")).mean().round())


# ---- 3. outputs never replace the input pictures --------------------------------------------------------------
def _same_folder(t):
    return t / "in", t / "in"


def _same_folder_spelled_otherwise(t):
    return t / "in", Path(f"{t / 'in'}/../in/")


def _symlink_to_input(t):
    (t / "link").symlink_to(t / "in")
    return t / "in", t / "link"


def _one_file_onto_itself(t):
    return t / "in" / "a.png", t / "in" / "a.png"


def _grid_onto_an_input(t):
    return t / "in", t / "in" / "b.png"


OVERWRITES = {"same folder": _same_folder, "same folder spelled otherwise": _same_folder_spelled_otherwise,
              "a link to the input folder": _symlink_to_input, "one file onto itself": _one_file_onto_itself,
              "the grid onto an input": _grid_onto_an_input}


@pytest.mark.parametrize("case", list(OVERWRITES))
def test_outputs_never_replace_the_input_pictures(tmp_path, capsys, case):
    model = copy_model(tmp_path / "m.onnx")
    _pictures(tmp_path / "in")
    src, out = OVERWRITES[case](tmp_path)
    before = snapshot(tmp_path)
    r = gan_sample(capsys, str(model), "--input", str(src), "--out", str(out))
    assert_refused(r, "--out", "--input", "choose another")
    assert snapshot(tmp_path) == before


# ---- 4. outputs never replace each other, and the count printed is the files written -------------------------
@pytest.mark.parametrize("names", [("a.png", "a.jpg"), ("a.png", "a.PNG"), ("A.png", "a.png"),
                                   ("a.png", "a.jpg", "a_jpg.png"), ("x.bmp", "x.webp", "x.png", "y.png")])
def test_inputs_that_share_a_name_get_outputs_of_their_own(tmp_path, capsys, names):
    model = copy_model(tmp_path / "m.onnx")
    _pictures(tmp_path / "in", names)
    r = gan_sample(capsys, str(model), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert r.code == 0, r.err
    written = sorted((tmp_path / "out").iterdir())
    assert len({p.name.casefold() for p in written}) == len(names)  # distinct on a case-blind disk too
    assert f"wrote {len(names)} output(s)" in r.out
    want = sorted(40 + 50 * i for i in range(len(names)))
    assert sorted(_gray(p) for p in written) == want  # each input's own picture, none lost


def test_before_after_without_input_is_refused(tmp_path, capsys):
    model = tiny_generator(tmp_path / "g.onnx")
    r = gan_sample(capsys, str(model), "--before-after", "--out", str(tmp_path / "grid.png"))
    assert_refused(r, "--before-after", "--input", "g.onnx")
    assert not (tmp_path / "grid.png").exists()


def test_the_grid_and_separate_images_never_share_a_file(tmp_path, capsys):
    model = tiny_generator(tmp_path / "g.onnx")
    (tmp_path / "sep").mkdir()
    before = snapshot(tmp_path)
    r = gan_sample(capsys, str(model), "--n", "4", "--out", str(tmp_path / "sep" / "0000.png"),
                   "--separate", str(tmp_path / "sep"))
    assert_refused(r, "--out", "--separate", "0000.png")
    assert snapshot(tmp_path) == before


# ---- 5. a picture reaches the model exactly as training reads it ---------------------------------------------
def _picture(mode: str, path: Path) -> Path:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    if mode == "I;16":
        Image.fromarray((rng.integers(0, 65536, (4, 4))).astype(np.uint16)).save(path)
    elif mode == "CMYK":
        Image.fromarray(rgb).convert("CMYK").save(path.with_suffix(".jpg"), quality=95)
        return path.with_suffix(".jpg")
    elif mode == "P+transparency":
        im = Image.fromarray(rgb).convert("P")
        im.save(path, transparency=0)
    else:
        alpha = rng.integers(0, 256, (4, 4), dtype=np.uint8)
        Image.fromarray(np.dstack([rgb, alpha])).convert(mode).save(path)
    return path


MODES = ["L", "RGB", "I;16", "LA", "RGBA", "P", "P+transparency", "1", "CMYK"]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("mode", MODES)
def test_the_sampler_reads_a_picture_as_training_does(tmp_path, mode, channels):
    from engine.data.folder import load_folder
    from engine.ondevice.image import ImageModel

    (tmp_path / "data").mkdir()
    f = _picture(mode, tmp_path / "data" / "p.png")
    model = ImageModel(copy_model(tmp_path / "m.onnx", channels=channels))
    trained_on = load_folder(str(tmp_path / "data"), 4, color="gray" if channels == 1 else "rgb")
    seen = trained_on.images[0].numpy().astype(np.float32) / 127.5 - 1.0
    assert np.allclose(model.fit(f), seen, atol=1e-6)


def test_a_16_bit_picture_gives_the_same_output_as_its_8_bit_copy(tmp_path, capsys):
    model = copy_model(tmp_path / "m.onnx", side=8)
    ramp = np.linspace(0, 255, 64).reshape(8, 8).round().astype(np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(ramp).save(tmp_path / "in" / "eight.png")
    Image.fromarray(ramp.astype(np.uint16) * 257).save(tmp_path / "in" / "sixteen.png")
    r = gan_sample(capsys, str(model), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert r.code == 0, r.err
    eight, sixteen = (np.asarray(Image.open(tmp_path / "out" / n)) for n in ("eight.png", "sixteen.png"))
    assert np.array_equal(eight, sixteen) and abs(float(sixteen.mean()) - float(ramp.mean())) < 1


# ---- 6. fixed batch sizes, integer inputs, and no traceback after a grid was written -------------------------
@pytest.fixture(scope="module")
def fixed_batch_generators(tmp_path_factory):
    """Generators exported by a plain torch.onnx.export: the batch is fixed at the example's (1 and 4). The
    exporter's op list is parsed once per process (shared with the export tests), the rest takes ~0.7 s each."""
    import torch

    from engine.export.onnx import _cache_torchlib_op_list

    _cache_torchlib_op_list()
    folder = tmp_path_factory.mktemp("fixed")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Unflatten(1, (1, 4, 4)), torch.nn.Tanh()).eval()
    paths = {}
    for batch in (1, 4):
        paths[batch] = folder / f"fixed{batch}.onnx"
        torch.onnx.export(net, (torch.randn(batch, 6),), str(paths[batch]))
    return paths


@pytest.mark.parametrize("batch, flags", [(1, ["--n", "64"]), (4, ["--n", "6"]),
                                          (4, ["--n", "3", "--interpolate", "5"]),
                                          (1, ["--n", "2", "--interpolate", "3", "--separate", "SEP"]),
                                          (4, ["--n", "4", "--bench"]), (1, ["--n", "2", "--bench"])])
def test_a_fixed_batch_generator_runs_at_any_n(tmp_path, capsys, fixed_batch_generators, batch, flags):
    flags = [str(tmp_path / "sep") if f == "SEP" else f for f in flags]
    r = gan_sample(capsys, str(fixed_batch_generators[batch]), "--out", str(tmp_path / "grid.png"), *flags)
    assert r.code == 0 and "Traceback" not in r.err, r.err
    n = int(flags[1])
    assert f"{n} images" in r.out and Image.open(tmp_path / "grid.png").size[0] > 6
    if "--interpolate" in flags:
        assert (tmp_path / "grid.interpolate.png").exists()
    if "--bench" in flags:
        assert f"batch {batch:>3}:" in r.out


@pytest.mark.parametrize("kind", ["fixed batch 2", "uint8 input", "int64 input", "uint8 input, fixed batch 2"])
def test_image_models_of_any_batch_or_pixel_type_run(tmp_path, capsys, kind):
    in_type = TensorProto.UINT8 if "uint8" in kind else TensorProto.INT64 if "int64" in kind else TensorProto.FLOAT
    model = copy_model(tmp_path / "m.onnx", batch=2 if "fixed" in kind else "batch", in_type=in_type)
    _pictures(tmp_path / "in")
    r = gan_sample(capsys, str(model), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert r.code == 0 and "Traceback" not in r.err, r.err
    assert [_gray(p) for p in sorted((tmp_path / "out").iterdir())] == [40, 90, 140]


def test_a_conditional_fixed_batch_generator_draws_every_class(tmp_path, capsys):
    model = conditional_generator(tmp_path / "c.onnx", batch=2)
    r = gan_sample(capsys, str(model), "--n", "9", "--out", str(tmp_path / "grid.png"), "--interpolate", "3")
    assert r.code == 0, r.err
    assert "3 rows, one per class" in r.out and (tmp_path / "grid.interpolate.png").exists()


@pytest.mark.parametrize("with_input", [True, False])
def test_a_classifier_is_not_called_a_generator(tmp_path, capsys, with_input):
    model = classifier(tmp_path / "c.onnx")
    _pictures(tmp_path / "in")
    before = snapshot(tmp_path)
    r = gan_sample(capsys, str(model), *(["--input", str(tmp_path / "in")] if with_input else []),
                   "--out", str(tmp_path / "o.png"))
    line = assert_refused(r, "c.onnx", "not an image generator")
    assert "turns an image into an image" not in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("flag", [["--interpolate", "4"], ["--separate", "SEP"], ["--label", "1"], ["--nrow", "2"],
                                  ["--before-after"]])
def test_flags_a_model_cannot_use_are_refused_not_ignored(tmp_path, capsys, flag):
    model = copy_model(tmp_path / "m.onnx")
    _pictures(tmp_path / "in")
    flag = [str(tmp_path / "sep") if f == "SEP" else f for f in flag]
    before = snapshot(tmp_path)
    r = gan_sample(capsys, str(model), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"), *flag)
    assert_refused(r, flag[0], "--input" if flag[0] != "--before-after" else "FILE.png")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


# ---- 9. threads: never more than the machine has ---------------------------------------------------------------
def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.mark.parametrize("extra", [[], ["--bench"], ["--input"]])
@pytest.mark.parametrize("threads", [1024, "cpus+1"])
def test_threads_are_capped_at_the_cpu_count_with_a_note(tmp_path, capsys, threads, extra):
    asked = _cpus() + 1 if threads == "cpus+1" else threads
    if extra == ["--input"]:
        model, extra = copy_model(tmp_path / "m.onnx"), ["--input", str(_pictures(tmp_path / "in"))]
        out = tmp_path / "out"
    else:
        model, out = tiny_generator(tmp_path / "g.onnx"), tmp_path / "grid.png"
    r = gan_sample(capsys, str(model), "--threads", str(asked), "--out", str(out), *extra)
    assert r.code == 0, r.err
    assert f"gan-sample: note: --threads {asked} is more than the {_cpus()} CPU(s) here; using {_cpus()}." \
        in r.err_lines
    if "--bench" in extra:
        assert f"{_cpus()} thread(s), as asked" in r.out


@pytest.mark.parametrize("threads", ["0", "-3"])
def test_threads_below_one_are_refused(tmp_path, capsys, threads):
    model = tiny_generator(tmp_path / "g.onnx")
    r = gan_sample(capsys, str(model), "--threads", threads, "--out", str(tmp_path / "grid.png"))
    assert_refused(r, "--threads", f"(got {threads})")
    assert not (tmp_path / "grid.png").exists()


# ---- 14. a wrong gan.num_classes is named as such -------------------------------------------------------------
@pytest.mark.parametrize("claimed", [4, 1000, 100_000])
def test_a_tampered_class_count_is_blamed_on_num_classes(tmp_path, capsys, claimed):
    model = conditional_generator(tmp_path / "c.onnx", classes=3, claimed=claimed)
    before = snapshot(tmp_path)
    r = gan_sample(capsys, str(model), "--out", str(tmp_path / "grid.png"))
    line = assert_refused(r, "c.onnx", "gan.num_classes", str(claimed))
    assert "latent" not in line
    assert snapshot(tmp_path) == before


def test_a_real_process_says_one_line_when_a_probe_run_fails(tmp_path):
    """ORT logs a failed run on the process's stderr itself (not through Python): that must not be a second line."""
    model = conditional_generator(tmp_path / "c.onnx", classes=3, claimed=9)
    r = run_cli(str(model), "--out", str(tmp_path / "grid.png"), module="engine.sample_cli")
    assert_refused(r, "gan.num_classes", "9", "fewer classes")
    assert not (tmp_path / "grid.png").exists()


# ---- 15. --out is checked the same on the image path ---------------------------------------------------------
@pytest.mark.parametrize("out, words", [("x.jpg", ["x.jpg", ".png"]), ("x.JPEG", ["x.JPEG", ".png"]),
                                        ("x.webp", ["x.webp", ".png"]),
                                        ("missing/deeper/out", ["missing", "does not exist"]),
                                        ("afile", ["afile", "is a file"])])
def test_the_image_path_checks_out_like_the_noise_path(tmp_path, capsys, out, words):
    model = copy_model(tmp_path / "m.onnx")
    _pictures(tmp_path / "in")
    (tmp_path / "afile").write_text("x")
    before = snapshot(tmp_path)
    r = gan_sample(capsys, str(model), "--input", str(tmp_path / "in"), "--out", str(tmp_path / out))
    assert_refused(r, *words)
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "in", "m.onnx"]


def test_an_uppercase_png_is_a_file_not_a_folder(tmp_path, capsys):
    model = copy_model(tmp_path / "m.onnx")
    _pictures(tmp_path / "in", ("a.png",))
    r = gan_sample(capsys, str(model), "--input", str(tmp_path / "in" / "a.png"), "--out", str(tmp_path / "x.PNG"))
    assert r.code == 0, r.err
    assert (tmp_path / "x.PNG").is_file()


# ---- messages that a non-programmer can act on ----------------------------------------------------------------
def test_a_missing_external_data_file_is_named(tmp_path, capsys):
    model = with_external_data(tmp_path / "g.onnx", "g.weights")
    (tmp_path / "g.weights").unlink()
    r = gan_sample(capsys, str(model), "--out", str(tmp_path / "grid.png"))
    assert_refused(r, "g.onnx", "g.weights", "missing")
    assert not (tmp_path / "grid.png").exists()


def test_n_with_input_takes_the_first_n_pictures_and_says_so(tmp_path, capsys):
    model = copy_model(tmp_path / "m.onnx")
    _pictures(tmp_path / "in")
    r = gan_sample(capsys, str(model), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--n", "2")
    assert r.code == 0, r.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert "wrote 2 output(s)" in r.out and "the first 2 of 3" in r.out


def test_bench_with_input_prints_its_numbers(tmp_path, capsys):
    model = copy_model(tmp_path / "m.onnx")
    _pictures(tmp_path / "in")
    r = gan_sample(capsys, str(model), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--bench",
                   "--threads", "1")
    assert r.code == 0, r.err
    assert "batch   1:" in r.out and "images/s" in r.out
