"""The architecture catalogue: every arch declared once, with what the CLI and the studio need to know about it.

Leaf module, no torch (timm's register_model metadata, read without building anything): `gan-prune train --arch
nope` is refused, the Train page lists its choices and the image-to-image task picks its default arch from this
table before torch loads. The code that builds an arch is named as "module:attribute" (an `engine.models.ArchCode`)
and loaded on first use, as engine/stages/__init__.py does for stages. A new architecture is one `Arch(...)` entry
here and its module under engine/models/.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.tasks import IMAGE, NOISE, TASKS, is_conditional, task_kind


@dataclass(frozen=True)
class Arch:
    name: str  # the --arch value and the "arch" of every spec it builds
    label: str  # the studio's words for it
    kind: str  # NOISE: its generator takes a latent (maybe a class); IMAGE: it turns an image into an image
    code: str  # "module:attribute" of its engine.models.ArchCode (builders, default widths, spec check)
    conditional: bool = False  # it has a class-conditional pair (the conditional task)
    trainable: bool = True  # False: `gan-prune train` cannot make one (an imported model: "user")
    help: str = ""  # one sentence: when to choose it
    default_for: tuple[str, ...] = ()  # tasks that train it when no --arch is named (else their kind's first)


# In the order the studio offers them (the first of a task's kind is that task's default, unless an arch names the
# task in `default_for`).
ARCHS: dict[str, Arch] = {a.name: a for a in (
    Arch("dcgan", "DCGAN (convolutional, recommended)", NOISE, "engine.models.dcgan:CODE", conditional=True,
         help="conv-only DCGAN: the best digits, every width prunable"),
    Arch("mlp", "MLP (the small reference GAN)", NOISE, "engine.models.mlp:CODE",
         help="fully connected layers: any image size"),
    Arch("resnet", "ResNet (residual blocks, for block pruning)", NOISE, "engine.models.resnet:CODE",
         help="residual blocks that block pruning can remove whole"),
    Arch("unet", "U-Net (image → image, with skip connections)", IMAGE, "engine.models.unet:CODE",
         help="pix2pix's U-Net with a PatchGAN discriminator"),
    Arch("resnet-i2i", "ResNet (image → image)", IMAGE, "engine.models.resnet_i2i:CODE",
         help="residual blocks at a quarter of the image size, with a PatchGAN discriminator"),
    Arch("cyclegan", "CycleGAN ResNet (image → image, reflection padding, instance norm)", IMAGE,
         "engine.models.cyclegan:CODE", default_for=("unpaired",),
         help="CycleGAN's ResNet generator (instance norm, residual blocks at a quarter of the side)"),
    Arch("user", "Your own model (imported)", NOISE, "engine.models.user:CODE", conditional=True, trainable=False,
         help="a generator you trained elsewhere, brought in with gan-prune import"),
)}


def arch_names() -> list[str]:
    return sorted(ARCHS)


def trainable_archs() -> tuple[str, ...]:
    return tuple(a.name for a in ARCHS.values() if a.trainable)


def archs_for(task: str) -> list[str]:
    """The architectures `gan-prune train` can build for a task, in the catalogue's order: those of the task's
    kind (noise or image), and with a class-conditional pair when the task takes a class."""
    if task not in TASKS:
        return []
    fits = [a for a in ARCHS.values() if a.trainable and a.kind == task_kind(task)
            and (a.conditional or not is_conditional(task))]
    return [a.name for a in sorted(fits, key=lambda a: task not in a.default_for)]  # the task's own default first


def default_arch(task: str) -> str:
    """The arch a task trains when none is named: the first the catalogue offers for it (one that names the task
    in its `default_for` comes first)."""
    return (archs_for(task) or ["dcgan"])[0]


def arch_problem(arch: str, task: str) -> str | None:
    """None when `arch` can be trained for `task`, else the sentence that says what to choose."""
    if arch not in ARCHS:
        return f"Unknown architecture '{arch}'; choose one of: {', '.join(arch_names())}."
    if not ARCHS[arch].trainable or arch in archs_for(task):  # an imported model: its own code decides
        return None
    if ARCHS[arch].kind == IMAGE and task_kind(task) == NOISE:
        image = [t for t in TASKS if task_kind(t) == IMAGE]
        return f"{arch} turns an image into an image; use it with --task {', '.join(image)} (got {task})."
    return f"The {task} task needs --arch {' or '.join(archs_for(task))} (got {arch})."
