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
    help: str  # one sentence: what goes in and what comes out
    inputs: tuple[str, ...]  # ONNX input names, in order (contract: z, label, image)
    needs_labels: bool = False  # the data must say each image's class
    archs: tuple[str, ...] | None = None  # the architectures that can do it; None: every one


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("unconditional", "Noise → image", "Random images like the data set's, from noise.", ("z",)),
    Task("conditional", "Class → image", "Images of the class you ask for (a digit, a folder's class), from noise "
         "and a class label; needs labelled data (mnist-5k, torchvision sets, or one sub-folder per class).",
         ("z", "label"), needs_labels=True, archs=("dcgan",)),
)}


def task_names() -> tuple[str, ...]:
    return tuple(TASKS)


def task_of(record: dict | None) -> str:
    """The task a checkpoint (or any record with a 'task' key) was made for; older files are unconditional."""
    return (record or {}).get("task") or DEFAULT_TASK


def is_conditional(task: str) -> bool:
    return "label" in TASKS[task].inputs if task in TASKS else False
