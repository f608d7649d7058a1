"""gan-prune import: your own trained generator (a .py file + class + state dict) as a workspace's trained model.

It imports (RUNS) the file, so it says so before anything else happens.
"""

from __future__ import annotations

import json

from engine.cli.common import add_workspace_arg, run_registered
from engine.data_sources import SOURCES, spec_of
from engine.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("import", help="import your own trained generator (runs the file's code)",
                       description="Make your own trained generator the workspace's trained model, so prune, "
                                   "finetune, evaluate, export and gan-sample take it. WARNING: this imports the "
                                   "Python file, which runs its code; import only files you trust.")
    add_workspace_arg(p)
    p.add_argument("--generator", required=True, metavar="FILE.py", help="the Python file that defines the class")
    p.add_argument("--class", dest="class_name", required=True, metavar="NAME", help="the generator's class")
    p.add_argument("--args", default="{}", metavar="JSON", help='constructor keyword arguments, e.g. \'{"nz": 64}\'')
    p.add_argument("--weights", required=True, metavar="G.pt", help="its state dict (torch.save(G.state_dict()))")
    p.add_argument("--dataset", "--data", default="mnist-5k", metavar="SPEC",
                   help="the data it was trained on: " + ", ".join(
                       spec_of(s) for s in SOURCES.values() if s.task is None))
    p.add_argument("--latent-dim", type=int, help="latent size (default: the module's latent_dim/nz/z_dim "
                                                  "attribute, else its first layer's input)")
    p.add_argument("--task", help="what it does (default: read from its forward): unconditional, conditional, or "
                                   "for an image-to-image generator superres, inpaint, sketch or paired")
    p.add_argument("--scale", type=int, default=4, help="superres: the output's side over the input's (2 or 4)")
    p.add_argument("--num-classes", type=int, help="a conditional generator's class count (default: its "
                                                   "num_classes attribute or its nn.Embedding)")
    p.add_argument("--input-shape", metavar="C,H,W", help="an image-to-image generator's input, e.g. 1,7,7 "
                                                          "(default: its input_shape attribute)")
    p.add_argument("--discriminator-class", metavar="NAME", help="its discriminator's class (optional)")
    p.add_argument("--discriminator-weights", metavar="D.pt", help="the discriminator's state dict")
    p.add_argument("--discriminator-file", metavar="FILE.py", help="where that class is (default: --generator)")
    p.add_argument("--discriminator-args", default="{}", metavar="JSON")
    p.add_argument("--d-warmup-steps", type=int, default=200,
                   help="without a discriminator: steps that first train a new one (default 200)")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def _json(text: str, flag: str) -> dict:
    try:
        value = json.loads(text)
    except RecursionError:
        raise ConfigError(f"{flag} nests too deeply to read: {text!r:.60}; write e.g. '{{\"nz\": 64}}'.") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{flag} is not valid JSON ({e.msg} at character {e.pos}): {text!r:.60}; write e.g. "
                          '\'{"nz": 64}\'.') from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag} must be a JSON object of keyword arguments, e.g. '{{\"nz\": 64}}' "
                          f"(got {text!r:.60}).")
    return value


def _shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
        raise ConfigError(f"--input-shape must be channels,height,width with 1 or 3 channels, e.g. 1,7,7 "
                          f"(got {text!r:.40}).")
    return shape


def config_from_args(args):
    from engine.stages.import_model.run import ImportConfig

    return ImportConfig(generator=args.generator, class_name=args.class_name, weights=args.weights,
                        args=_json(args.args, "--args"), dataset=args.dataset, latent_dim=args.latent_dim,
                        num_classes=args.num_classes, input_shape=_shape(args.input_shape), task=args.task,
                        scale=args.scale,
                        discriminator_class=args.discriminator_class,
                        discriminator_weights=args.discriminator_weights,
                        discriminator_file=args.discriminator_file,
                        discriminator_args=_json(args.discriminator_args, "--discriminator-args"),
                        d_warmup_steps=args.d_warmup_steps, seed=args.seed, limit=args.limit)


def run(args) -> int:
    from engine.stages.import_model.run import WARNING
    from engine.workspace import Workspace

    cfg = config_from_args(args)
    files = dict.fromkeys([args.generator] + ([args.discriminator_file] if args.discriminator_file else []))
    for f in files:  # before the file runs, not after
        print(f"gan-prune: {WARNING.format(path=f)}", flush=True)  # stdout: stderr is kept for the one error line
    cfg.validate()
    run_registered("import", cfg, Workspace(args.workspace), quiet=args.quiet)
    return 0
