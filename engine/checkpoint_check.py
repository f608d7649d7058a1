"""A loaded checkpoint checked before it becomes models: each key a hand edit could break, named with the file.

Runs on every checkpoint `engine.workspace.load_checkpoint_file` reads (after torch.load(weights_only=True)), so
train --resume, prune, fine-tune, export, evaluate, info and the studio all refuse the same file the same way.
The state dicts are compared with the spec on torch's meta device: no memory is spent on a spec that lies.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.config import LOSSES, OPTIMIZERS
from engine.errors import WorkspaceError
from engine.models.spec import SpecError
from engine.tasks import TASKS, is_conditional, task_of


class _Bad(Exception):
    """One key that does not fit, in words that follow the key's name."""


def check_checkpoint(ckpt: dict, source: str | Path, files_just_chosen: bool = False) -> dict:
    """Return ckpt unchanged, or raise WorkspaceError naming the file and the key that does not fit.

    A bundled model whose D sits in a second file ('discriminator_file') is checked without D's weights.
    files_just_chosen: the import stage checks the checkpoint it is about to write, of the files the person named
    on this very command (nothing recorded yet: it writes last)."""
    try:
        _check(ckpt, bool(ckpt.get("discriminator_file")), Path(source), files_just_chosen)
    except (SpecError, _Bad) as e:
        raise WorkspaceError(f"The checkpoint {source} was edited or damaged: {str(e).rstrip('.')}; restore it "
                             "from a backup or train again.") from None
    return ckpt


def _check(ckpt: dict, discriminator_elsewhere: bool, source: Path, files_just_chosen: bool = False) -> None:
    from engine.models import check_spec

    arch = ckpt.get("arch")
    if not isinstance(arch, dict):
        raise _Bad("'arch' (every layer's width) is missing" if arch is None
                   else f"'arch' must be a table with generator and discriminator specs (got {arch!r:.60})")
    for role in ("generator", "discriminator"):
        check_spec(arch.get(role), role, f"arch.{role}")
    g, d = arch["generator"], arch["discriminator"]
    # An imported generator trains against its own D or one of the registry's (see engine/stages/import_model/run.py).
    if (g["arch"] != d["arch"] and g["arch"] != "user") or list(g["image_shape"]) != list(d["image_shape"]):
        raise _Bad(f"arch.generator ({g['arch']}, {g['image_shape']}) and arch.discriminator ({d['arch']}, "
                   f"{d['image_shape']}) are not one model")
    _check_fields(ckpt, g)
    if not files_just_chosen:
        _check_trusted(arch, source)
    _check_task(ckpt, g, d)
    if "layers" in ckpt and "generator" not in ckpt:  # the lottery ticket's step-k weights, not a model
        if not isinstance(ckpt["layers"], dict):
            raise _Bad(f"'layers' must be a table of weights (got {ckpt['layers']!r:.60})")
        return
    shapes = {"g": _check_state(ckpt, "generator", g)}
    if ckpt.get("ema") is not None:
        _check_state(ckpt, "ema", g)
    if not discriminator_elsewhere:
        shapes["d"] = _check_state(ckpt, "discriminator", d)
    _add_trained_with(ckpt, shapes)
    for role, params in shapes.items():
        if ckpt.get("optim"):
            _check_optimizer(ckpt["optim"][role], params, f"optim.{role}")


def _add_trained_with(ckpt: dict, shapes: dict[str, list]) -> None:
    """Parameters outside G and D that their optimizers hold too, in order after theirs."""
    if "arch_ba" in ckpt:  # a CycleGAN's B → A side: one optimizer holds both generators, one both Ds
        for role, params in _check_other_side(ckpt).items():
            shapes[role] = shapes.get(role, []) + params
    adapters = ckpt.get("adapters")
    if isinstance(adapters, dict) and "g" in shapes:  # fine-tuning trains its 1x1 feature adapters with G
        shapes["g"] = shapes["g"] + [tuple(t.shape) for t in adapters.values() if isinstance(t, torch.Tensor)]


def _check_other_side(ckpt: dict) -> dict[str, list[tuple[int, ...]]]:
    """The unpaired task's B → A generator and the D that judges A (engine/stages/train/unpaired.py)."""
    from engine.models import check_spec

    arch = ckpt["arch_ba"]
    if not isinstance(arch, dict):
        raise _Bad(f"'arch_ba' must be a table with generator and discriminator specs (got {arch!r:.60})")
    for role in ("generator", "discriminator"):
        check_spec(arch.get(role), role, f"arch_ba.{role}")
        if arch[role]["arch"] == "user":
            raise _Bad("arch_ba must be built from the catalogue (got 'user')")
    return {"g": _check_state(ckpt, "generator_ba", arch["generator"]),
            "d": _check_state(ckpt, "discriminator_a", arch["discriminator"])}


def _check_trusted(arch: dict, source: Path) -> None:
    """An imported model's checkpoint makes the app import a .py file. Two conditions, checked before anything runs:
    `gan-prune import` recorded the file in the workspace the checkpoint lies in (checkpoints/NAME.pt), so a
    checkpoint handed over alone never runs code; and THIS user chose to run it (engine/trust: a record outside every
    project folder), so a whole project folder handed over, whose manifest its sender wrote, asks first."""
    from engine import trust

    for role in ("generator", "discriminator"):
        spec = arch[role]
        if spec["arch"] != "user":
            continue
        root = source.resolve().parent.parent
        if (spec["source"], spec["sha256"]) not in set(trust.project_files(root)):
            raise WorkspaceError(f"The checkpoint {source} would run the Python file {spec['source']}, which was not "
                                 f"imported into the workspace {root}; import it there with 'gan-prune import' if "
                                 "you trust it.")
        if not trust.is_trusted(spec["source"], spec["sha256"]):
            raise WorkspaceError(untrusted_words(root, spec["source"]))


def untrusted_words(root: Path, file: str) -> str:
    """The one line for a project whose model file this user has not chosen to run."""
    return (f"The project {root} runs the Python file {file} (its imported model), which you have not chosen to run "
            f"on this computer; nothing was run. If you trust that file, run: gan-prune trust --workspace {root}")


def _check_fields(ckpt: dict, g: dict) -> None:
    step = ckpt.get("step", 0)
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise _Bad(f"'step' must be a whole number of 0 or more (got {step!r:.60})")
    for key, choices in (("loss", LOSSES), ("optimizer", OPTIMIZERS)):
        if key in ckpt and ckpt[key] not in choices:
            raise _Bad(f"'{key}' must be one of {', '.join(choices)} (got {ckpt[key]!r:.60})")
    for key in ("data", "pruning", "rng"):
        if ckpt.get(key) is not None and not isinstance(ckpt[key], dict):
            raise _Bad(f"'{key}' must be a table (got {ckpt[key]!r:.60})")
    data = ckpt.get("data") or {}
    shape = data.get("image_shape", g["image_shape"])
    if not isinstance(shape, (list, tuple)) or list(shape) != list(g["image_shape"]):
        raise _Bad(f"data.image_shape {data['image_shape']!r:.60} is not the generator's {g['image_shape']}")
    if "dataset" in data and not isinstance(data["dataset"], str):
        raise _Bad(f"data.dataset must be a data set name (got {data['dataset']!r:.60})")
    optim = ckpt.get("optim")
    if optim and not (isinstance(optim, dict) and all(isinstance(optim.get(k), dict) for k in "gd")):
        raise _Bad("'optim' must hold the optimizer states 'g' and 'd'")
    for key, value in (ckpt.get("rng") or {}).items():
        if not (isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 1):
            raise _Bad(f"rng.{key} must be a random generator's state (a 1-D uint8 tensor)")


def _check_task(ckpt: dict, g: dict, d: dict) -> None:
    """'task' names a known task, and the specs fit it: a conditional pair has the same class count in G and D."""
    task = ckpt.get("task")
    if task is not None and task not in TASKS:
        raise _Bad(f"'task' must be one of {', '.join(TASKS)} (got {task!r:.60})")
    classes = g.get("num_classes", 0), d.get("num_classes", 0)
    if is_conditional(task_of(ckpt)) != bool(classes[0]):
        raise _Bad(f"'task' is {task_of(ckpt)} but arch.generator "
                   + ("has no num_classes" if not classes[0] else f"takes {classes[0]} classes"))
    if classes[0] != classes[1]:
        raise _Bad(f"arch.generator takes {classes[0]} classes but arch.discriminator {classes[1]}")


def _check_state(ckpt: dict, key: str, spec: dict) -> list[tuple[int, ...]]:
    """The stored tensors have exactly the names and shapes the spec builds, and hold finite numbers.

    Returns the shapes of the model's parameters in order (what its optimizer state must match)."""
    from engine.models import arch_code

    state = ckpt.get(key)
    if state is None:
        raise _Bad(f"'{key}' (the {key} weights) is missing")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise _Bad(f"'{key}' must map layer names to weight tensors")
    code = arch_code(spec["arch"])
    with torch.device("meta"):
        model = (code.discriminator if key.startswith("discriminator") else code.generator)(spec)
    wanted = model.state_dict()
    role = "discriminator" if key.startswith("discriminator") else "generator"
    missing = [k for k in wanted if k not in state]
    if missing:
        raise _Bad(f"{key}['{missing[0]}'] is missing, which arch.{role} needs")
    extra = [k for k in state if k not in wanted]
    if extra:
        raise _Bad(f"{key}['{extra[0]}'] is not a layer of arch.{role}")
    for name, want in wanted.items():
        have = state[name]
        if tuple(have.shape) != tuple(want.shape):
            raise _Bad(f"{key}['{name}'] has shape {list(have.shape)} but arch.{role} needs {list(want.shape)}")
        if have.is_floating_point() and not _finite(have):
            raise _Bad(f"{key}['{name}'] holds NaN or infinite values")
    return [tuple(p.shape) for p in model.parameters()]


def _check_optimizer(state: dict, params: list[tuple[int, ...]], where: str) -> None:
    """An optimizer state that torch would refuse (or misapply) on resume: wrong count or shapes of its tensors."""
    groups = state.get("param_groups")
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("params"), list)
                                               for g in groups):
        raise _Bad(f"{where}.param_groups must be a list of parameter groups")
    ids = [i for g in groups for i in g["params"]]
    if len(ids) != len(params):
        raise _Bad(f"{where} is for {len(ids)} tensors but the model has {len(params)}")
    shape_of = dict(zip(ids, params))
    per_param = state.get("state")
    if not isinstance(per_param, dict):
        raise _Bad(f"{where}.state must be a table")
    for i, entry in per_param.items():
        if i not in shape_of or not isinstance(entry, dict):
            raise _Bad(f"{where}.state[{i!r}] belongs to no parameter of the model")
        for name, t in entry.items():
            if isinstance(t, torch.Tensor) and t.dim() > 0 and tuple(t.shape) != shape_of[i]:
                raise _Bad(f"{where}.state[{i}].{name} has shape {list(t.shape)} but its parameter is "
                           f"{list(shape_of[i])}")


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())  # an empty tensor is finite
