"""What a model does, declared once: its name, the inputs its ONNX file takes, what data it needs.

The config's choices, the CLI's --task, the studio's task list, checkpoint checks and the export metadata all read
this table, so a new task is one entry here (plus its models). Leaf module: no torch, no numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TASK = "unconditional"  # what a checkpoint or ONNX file from before tasks existed did


@dataclass(frozen=True)
class Task:
    name: str
    title: str  # a few words for the studio's list
    help: str  # one sentence for the studio, in plain words (no flags): what goes in and what comes out
    inputs: tuple[str, ...]  # ONNX input names, in order (contract: z, label, image)
    needs_labels: bool = False  # the data must say each image's class
    paired: bool = True  # image-to-image: each input has its wanted output; False: two unpaired sets (CycleGAN)


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("unconditional", "Noise → image", "Random images like the data set's, from noise.", ("z",)),
    Task("conditional", "Class → image", "Images of the class you ask for (a digit, a folder's class), from noise "
         "and a class label; needs labelled data: the bundled digits, MNIST, Fashion-MNIST, CIFAR-10, or a folder "
         "with one sub-folder per class.",
         ("z", "label"), needs_labels=True),
    # Image-to-image (pix2pix): the pairs are made on the fly from any image data, or read from pairs:DIR.
    Task("superres", "Super-resolution", "A sharper image 2x or 4x the side of a small input (the output size is "
         "set on the Train page); trained on the data set's images and their downscaled copies.", ("image",)),
    Task("inpaint", "Inpainting", "The image with its holes filled in (holes are mid-gray, or transparent in a PNG); "
         "trained on the data set's images with random holes punched in.", ("image",)),
    Task("sketch", "Sketch → image", "An image from its edge map (white edges on black); trained on the data set's "
         "images and their edges.", ("image",)),
    Task("paired", "Paired images (A → B)", "Your own pairs: a folder with the inputs in A/ and the wanted outputs in "
         "B/, matched by file name (the pix2pix convention).", ("image",)),
    # CycleGAN: two image sets with no pairs between them; the A → B generator is the model every stage sees.
    Task("unpaired", "Style transfer without pairs (A → B)", "Turns images like those in one folder (A/) into the "
         "style of another (B/), learnt from the two sets alone with no pairs between them (CycleGAN): e.g. horses "
         "into zebras with the bundled silhouettes.", ("image",), paired=False),
)}


def task_names() -> tuple[str, ...]:
    return tuple(TASKS)


def task_of(record: dict | None) -> str:
    """The task a checkpoint (or any record with a 'task' key) was made for; older files are unconditional."""
    return (record or {}).get("task") or DEFAULT_TASK


def is_conditional(task: str) -> bool:
    return "label" in TASKS[task].inputs if task in TASKS else False


def takes_image(task: str) -> bool:
    """Image-to-image tasks: the generator's input is an image (ONNX input 'image')."""
    return "image" in TASKS[task].inputs if task in TASKS else False


# What a generator takes in: noise (a latent, maybe a label) or an image. Every stage that treats the two differently
# asks one of the two functions below, never the model, the config or the file name.
NOISE, IMAGE = "noise", "image"


def task_kind(task: str) -> str:
    """The kind of model a task trains (before any checkpoint exists: train, import)."""
    return IMAGE if takes_image(task) else NOISE


def model_kind(checkpoint: dict | None) -> str:
    """The kind of a saved model, from its checkpoint's generator spec (every checkpoint carries it): an
    image-to-image spec records the shape of its input image."""
    spec = ((checkpoint or {}).get("arch") or {}).get("generator")
    return IMAGE if isinstance(spec, dict) and "input_shape" in spec else NOISE


def is_unpaired(task: str) -> bool:
    """An image-to-image task learnt from two unpaired sets (CycleGAN): no ground-truth output for an input."""
    return task in TASKS and takes_image(task) and not TASKS[task].paired


def image_tasks() -> tuple[str, ...]:
    return tuple(name for name in TASKS if takes_image(name))
