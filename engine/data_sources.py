"""The data-source table: every kind of --dataset declared once, with what the CLI and the studio need to know.

Leaf module, no torch: the config's check, `--dataset`'s help, `load_dataset`, the studio's Data page and the
import dialog read this table. A source is a fixed name (`mnist-5k`) or a prefix followed by a path (`folder:PATH`);
its loader is named as "module:function" and loaded on first use: `loader(argument, data_config) -> ImageData`, the
argument being the path for a prefix source and the name for a named one. A new source is one `DataSource(...)`
entry here and its loader under engine/data/.
"""

from __future__ import annotations

from dataclasses import dataclass

BUNDLED, DOWNLOADED, YOURS = "bundled", "downloaded", "yours"  # where the images come from


@dataclass(frozen=True)
class DataSource:
    name: str  # the --dataset value, or the prefix before ":PATH" when it takes a path
    label: str  # the studio's words for it
    help: str  # a few words for --dataset's help
    loader: str  # "module:function", loader(argument, DataConfig) -> engine.data.ImageData
    origin: str = DOWNLOADED  # BUNDLED (offline), DOWNLOADED once into the user's cache, or YOURS (a path)
    takes_path: bool = False  # written `name:PATH`
    labelled: bool = True  # its images come with class labels (a folder: when it has one sub-folder per class)
    task: str | None = None  # the only task it serves, and that task needs it (pairs: the paired task)
    path_help: str = ""  # what the path must hold, in the studio's words (its folder field, an empty path's refusal)
    example: str = ""  # a command-line example of the path, for the refusal of an empty one
    path_word: str = "PATH"  # how its help writes the path: folder:PATH, pairs:DIR


SOURCES: dict[str, DataSource] = {s.name: s for s in (
    DataSource("mnist-5k", "Handwritten digits (bundled, 5,000 images)", "5,000 MNIST digits, bundled",
               "engine.data.bundled:load", origin=BUNDLED),
    DataSource("mnist", "MNIST (downloads 60,000 digits)", "60,000 digits, downloaded once",
               "engine.data.torchvision_sets:load"),
    DataSource("fashion-mnist", "Fashion-MNIST (downloads clothing images)", "clothing images, downloaded once",
               "engine.data.torchvision_sets:load"),
    DataSource("cifar10", "CIFAR-10 (downloads 32x32 colour photos)", "32x32 colour photos, downloaded once",
               "engine.data.torchvision_sets:load"),
    DataSource("folder", "A folder of my own images", "a folder of PNG/JPEG images (one sub-folder per class "
               "gives labels)", "engine.data.folder:load", origin=YOURS, takes_path=True,
               path_help="a folder of PNG or JPEG images (sub-folders are read too)", example="/home/me/faces"),
    DataSource("pairs", "Image pairs of my own (a folder with A/ inputs and B/ outputs)", "DIR/A inputs, DIR/B "
               "targets of the same names, with --task paired", "engine.data.pairs:load", origin=YOURS,
               takes_path=True, labelled=False, task="paired", path_word="DIR",
               path_help="a folder holding A/ (inputs) and B/ (wanted outputs) with the same file names",
               example="/home/me/maps"),
    DataSource("horse2zebra-28", "Horses and zebras (bundled, 700 + 700 silhouettes)", "700 horse and 700 zebra "
               "28x28 silhouettes, bundled, with --task unpaired", "engine.data.unpaired:load", origin=BUNDLED,
               labelled=False, task="unpaired"),
    DataSource("unpaired", "Two unpaired sets of my own (a folder with A/ and B/)", "DIR/A and DIR/B images of "
               "any names and counts, with --task unpaired", "engine.data.unpaired:load", origin=YOURS,
               takes_path=True, labelled=False, task="unpaired", path_word="DIR",
               path_help="a folder holding A/ (images to translate) and B/ (images in the wanted style), any names "
                         "and counts", example="/home/me/horse2zebra"),
)}


def spec_of(source: DataSource) -> str:
    """How the source is written on the command line: `mnist` or `folder:PATH`."""
    return f"{source.name}:{source.path_word}" if source.takes_path else source.name


def split(dataset: str) -> tuple[DataSource | None, str]:
    """(its source, the argument for its loader) of a --dataset value; (None, "") for one no source knows."""
    name, sep, rest = dataset.partition(":")
    source = SOURCES.get(name)
    if source is None or bool(sep) != source.takes_path:
        return None, ""
    return source, rest.strip() if source.takes_path else name


def problem(dataset: str) -> str | None:
    """None when the value names a source (with a path where it needs one), else the sentence that says why."""
    source, argument = split(dataset)
    if source is None:
        return (f"Unknown dataset '{dataset}'; use one of "
                f"{', '.join(spec_of(s) for s in SOURCES.values())}.")
    if source.takes_path and not argument:
        return f"{source.name}: needs a path to {source.path_help}, e.g. {source.name}:{source.example}."
    return None


def task_problem(dataset: str, task: str) -> str | None:
    """A source bound to a task and that task go together (pairs:DIR and --task paired; unpaired:DIR or
    horse2zebra-28 and --task unpaired)."""
    source, _ = split(dataset)
    if source is not None and source.task is not None:
        if source.task == task:
            return None
        return (f"{spec_of(source)} goes with --task {source.task}; got dataset {dataset} and task {task}.")
    serving = [spec_of(s) for s in SOURCES.values() if s.task == task]
    if not serving:
        return None
    first, more = serving[0], "".join(f" (or {s})" for s in serving[1:])
    return f"{first}{more} goes with --task {task}; got dataset {dataset} and task {task}."


def labelled_words() -> str:
    """The sources that can give class labels, for a sentence: 'mnist-5k, mnist, ..., or folder:PATH with one
    sub-folder per class'."""
    named = [s.name for s in SOURCES.values() if s.labelled and not s.takes_path]
    paths = [f"{spec_of(s)} with one sub-folder per class" for s in SOURCES.values() if s.labelled and s.takes_path]
    return ", ".join(named) + (", or " + " or ".join(paths) if paths else "")
