"""gan-prune import refuses a model it cannot use with exit 2 and ONE line naming the file, and writes nothing.

Each case is a mistake a person makes with their own model: a file that does not import, a wrong class or
arguments, weights from another model, a forward that does not return images; then a file edited after import
and a checkpoint copied into a workspace that never imported its file.
"""

import shutil

import pytest
import torch
import torch.nn as nn

from tests.engine.user_model import FIXTURE, fixture_module, import_args, saved_weights
from tests.hostile.conftest import assert_refused, snapshot
from tests.hostile.inprocess import gan_prune


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return saved_weights(tmp_path_factory.mktemp("mine"))


def _file(tmp_path, text: str, name: str = "mine.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


BROKEN_FILES = {
    "syntax": ("import torch\nclass TinyGenerator(:\n    pass\n", "SyntaxError"),
    "raises": ("raise RuntimeError('this model needs CUDA 13')\n", "RuntimeError: this model needs CUDA 13"),
    "missing package": ("import stylegan_ops_not_installed\n", "No module named 'stylegan_ops_not_installed'"),
    "exits": ("import sys\nsys.exit(3)\n", "SystemExit"),
}


@pytest.mark.parametrize("case", list(BROKEN_FILES))
def test_a_module_that_fails_to_import_is_named_with_its_own_error(tmp_path, capsys, weights, case):
    text, own_error = BROKEN_FILES[case]
    source = _file(tmp_path, text, f"{case.replace(' ', '_')}.py")
    r = gan_prune(capsys, *import_args(tmp_path / "ws", weights[0], source=source))
    assert_refused(r, str(source), "failed to import", own_error)
    assert snapshot(tmp_path / "ws") == {}  # nothing written


def test_a_missing_class_lists_the_classes_the_file_has(tmp_path, capsys, weights):
    args = import_args(tmp_path / "ws", weights[0])
    args[args.index("TinyGenerator")] = "Generator"
    r = gan_prune(capsys, *args)
    assert_refused(r, str(FIXTURE), "no class 'Generator'", "TinyDiscriminator, TinyGenerator")


def test_a_function_is_not_a_model_class(tmp_path, capsys, weights):
    args = import_args(tmp_path / "ws", weights[0])
    args[args.index("TinyGenerator")] = "train_briefly"
    assert_refused(gan_prune(capsys, *args), str(FIXTURE), "train_briefly", "not an nn.Module class")


def test_a_failing_constructor_shows_its_own_error(tmp_path, capsys, weights):
    r = gan_prune(capsys, *import_args(tmp_path / "ws", weights[0]), "--args", '{"depth": 4}')
    assert_refused(r, str(FIXTURE), "TinyGenerator(depth=4)", "unexpected keyword argument 'depth'", "--args")


def test_arguments_that_are_not_json_are_named(tmp_path, capsys, weights):
    r = gan_prune(capsys, *import_args(tmp_path / "ws", weights[0]), "--args", "{nz: 16}")
    assert_refused(r, "--args is not valid JSON", "{nz: 16}")


def test_weights_of_another_width_list_the_mis_shaped_keys(tmp_path, capsys, weights):
    wide = tmp_path / "wide.pt"
    torch.save(fixture_module().TinyGenerator(ngf=64).state_dict(), wide)
    r = gan_prune(capsys, *import_args(tmp_path / "ws", wide))
    line = assert_refused(r, str(wide), "does not fit TinyGenerator", "of another shape (file vs class)")
    assert "main.0.weight [16, 64, 7, 7] vs [16, 32, 7, 7]" in line


def test_weights_of_another_model_list_missing_and_unexpected_keys(tmp_path, capsys, weights):
    r = gan_prune(capsys, *import_args(tmp_path / "ws", weights[1]))  # D's weights given as G's
    assert_refused(r, str(weights[1]), "does not fit TinyGenerator", "11 missing (main.1.weight",
                   "6 unexpected (main.2.weight")


def test_a_pickled_module_is_refused_not_unpickled(tmp_path, capsys):
    whole = tmp_path / "whole_model.pt"
    torch.save(nn.Linear(2, 2), whole)  # torch.save(model): loading it would run code
    r = gan_prune(capsys, *import_args(tmp_path / "ws", whole))
    assert_refused(r, str(whole), "loading it would run code", "nothing ran", "torch.save(model.state_dict(), PATH)")


def test_a_missing_weights_file_is_named(tmp_path, capsys):
    r = gan_prune(capsys, *import_args(tmp_path / "ws", tmp_path / "nowhere.pt"))
    assert_refused(r, str(tmp_path / "nowhere.pt"), "does not exist")


NOT_IMAGES = {
    "a vector": ("return self.fc(z)", "[2, 784]"),
    "a tuple": ("return self.fc(z), z", "returns tuple"),
    "four channels": ("return self.fc(z).view(-1, 4, 14, 14)", "[2, 4, 14, 14]"),
}


@pytest.mark.parametrize("case", list(NOT_IMAGES))
def test_a_forward_that_does_not_return_images_is_refused(tmp_path, capsys, case):
    body, shown = NOT_IMAGES[case]
    source = _file(tmp_path, "import torch.nn as nn\n\nclass Flat(nn.Module):\n    def __init__(self):\n"
                             "        super().__init__()\n        self.fc = nn.Linear(8, 784)\n\n"
                             f"    def forward(self, z):\n        {body}\n")
    torch.save({"fc.weight": torch.zeros(784, 8), "fc.bias": torch.zeros(784)}, tmp_path / "flat.pt")
    args = import_args(tmp_path / "ws", tmp_path / "flat.pt", source=source)
    args[args.index("TinyGenerator")] = "Flat"
    assert_refused(gan_prune(capsys, *args), str(source), "Flat", shown)


def test_a_wrong_latent_size_is_named(tmp_path, capsys, weights):
    r = gan_prune(capsys, *import_args(tmp_path / "ws", weights[0]), "--latent-dim", "7")
    assert_refused(r, str(FIXTURE), "does not run on latents of size 7", "--latent-dim")


def test_a_file_edited_after_import_is_refused_by_the_next_stage(tmp_path, capsys, weights):
    source = tmp_path / "user_dcgan.py"
    shutil.copy(FIXTURE, source)
    ws = tmp_path / "ws"
    assert gan_prune(capsys, *import_args(ws, weights[0], source=source), "--d-warmup-steps", "1").code == 0
    source.write_text(source.read_text() + "\nprint('changed')\n")
    before = snapshot(ws)
    r = gan_prune(capsys, "prune", "-w", str(ws), "--method", "channel-l1", "--amount", "0.5")
    assert_refused(r, str(source), "changed since it was imported", "import it again")
    assert snapshot(ws) == before


def test_a_checkpoint_alone_never_makes_the_app_run_its_file(tmp_path, capsys, weights):
    ws = tmp_path / "ws"
    assert gan_prune(capsys, *import_args(ws, weights[0]), "--d-warmup-steps", "1").code == 0
    other = tmp_path / "handed-over"
    (other / "checkpoints").mkdir(parents=True)
    shutil.copy(ws / "checkpoints" / "dense.pt", other / "checkpoints" / "dense.pt")
    (other / "manifest.json").write_text('{"version": 1, "stages": {"train": {"status": "done", '
                                         '"checkpoint": "checkpoints/dense.pt"}}}')
    r = gan_prune(capsys, "export", "-w", str(other), "--precision", "fp32")
    assert_refused(r, str(other / "checkpoints" / "dense.pt"), f"would run the Python file {FIXTURE}",
                   "not imported into the workspace")


def _zoo_weights(tmp_path, **args):
    import importlib.util

    zoo = FIXTURE.parent / "user_zoo.py"
    spec = importlib.util.spec_from_file_location("user_zoo_as_written", zoo)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.save(module.CondGen(**args).state_dict(), tmp_path / "cond.pt")
    return zoo, tmp_path / "cond.pt"


def test_a_conditional_generator_needs_data_with_its_class_count(tmp_path, capsys):
    zoo, weights = _zoo_weights(tmp_path, n_classes=5)
    r = gan_prune(capsys, "import", "-w", str(tmp_path / "ws"), "--generator", str(zoo), "--class", "CondGen",
                  "--args", '{"n_classes": 5}', "--weights", str(weights))
    assert_refused(r, "The data set mnist-5k has 10 classes but CondGen takes 5")
    assert snapshot(tmp_path / "ws") == {}


def test_a_conditional_generator_refuses_a_discriminator_without_labels(tmp_path, capsys, weights):
    zoo, g = _zoo_weights(tmp_path)
    r = gan_prune(capsys, "import", "-w", str(tmp_path / "ws"), "--generator", str(zoo), "--class", "CondGen",
                  "--weights", str(g), "--discriminator-file", str(FIXTURE), "--discriminator-class",
                  "TinyDiscriminator", "--discriminator-weights", str(weights[1]))
    assert_refused(r, f"TinyDiscriminator from {FIXTURE} takes no class label", "conditional")
