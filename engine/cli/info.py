"""gan-prune info: params, nonzero params, MACs and bytes per layer of G and D."""

from __future__ import annotations

import json


def register(sub) -> None:
    from engine.cli.common import add_workspace_arg

    p = sub.add_parser("info", help="print per-layer params and MACs of the workspace's newest model")
    add_workspace_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def model_info(ws) -> dict:
    from engine.errors import WorkspaceError
    from engine.metrics.complexity import layer_table, summarize
    from engine.models import discriminator_from_checkpoint, generator_from_checkpoint
    from engine.tasks import task_of

    path = ws.latest_generator_checkpoint()
    if path is None:
        raise WorkspaceError(f"The workspace {ws.root} has no trained model yet; run 'gan-prune train' first.")
    ckpt = ws.load_checkpoint(path)
    out = {"checkpoint": ws.rel(path), "step": ckpt.get("step"), "task": task_of(ckpt)}
    for role, net in (("generator", generator_from_checkpoint(ckpt)), ("discriminator",
                                                                      discriminator_from_checkpoint(ckpt))):
        out[role] = {"spec": net.spec(), "totals": summarize(net),
                     "layers": [r.as_dict() for r in layer_table(net)]}
    return out


def run(args) -> int:
    from engine.errors import WorkspaceError
    from engine.stage_runner import interrupted_stages
    from engine.workspace import Workspace

    ws = Workspace(args.workspace, create=False)
    stopped = interrupted_stages(ws)
    note = (f"note: the {', '.join(stopped)} stage{'s were' if len(stopped) > 1 else ' was'} interrupted (its "
            "process stopped before it finished); run it again") if stopped else ""
    try:
        info = model_info(ws)
    except WorkspaceError as e:
        raise WorkspaceError(f"{e} ({note})" if note else str(e)) from None
    info["interrupted"] = stopped
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    classes = info["generator"]["spec"].get("num_classes")
    task = "" if info["task"] == "unconditional" else f", task {info['task']}"  # the default goes unsaid
    print(f"checkpoint {info['checkpoint']} (step {info['step']}){task}" + (f" ({classes} classes)" if classes else ""))
    if note:
        print(note)
    for role in ("generator", "discriminator"):
        t = info[role]["totals"]
        print(f"\n{role}: {t['params']:,} params ({t['nonzero_params']:,} nonzero), {t['macs'] / 1e6:.2f} M MACs, "
              f"{t['file_bytes'] / 1e6:.2f} MB ({t['file_bytes_compressed'] / 1e6:.2f} MB zipped)")
        print(f"  {'layer':<22}{'type':<18}{'shape':<18}{'width':>7}{'params':>12}{'nonzero':>12}{'MACs':>14}")
        for r in info[role]["layers"]:
            print(f"  {r['name']:<22}{r['type']:<18}{r['shape']:<18}{r['width']:>7}{r['params']:>12,}"
                  f"{r['nonzero']:>12,}{r['macs']:>14,}")
    return 0
