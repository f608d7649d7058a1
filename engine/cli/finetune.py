"""gan-prune finetune: fine-tune the pruned model with its D plus distillation from the dense teacher."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, drive_stage
from engine.events import CancelToken


def register(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune the pruned GAN (adversarial + distillation from the dense G)")
    add_workspace_arg(p)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--distill", type=float, default=1.0, help="pixel L1 weight to the teacher's images; 0 = off")
    p.add_argument("--feature-distill", type=float, default=1.0, help="feature-matching weight")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--ema", type=float, default=0.0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-every", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/finetuned.pt")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.finetune import FinetuneConfig, run_finetune
    from engine.workspace import Workspace

    cfg = FinetuneConfig(steps=args.steps, distill=args.distill, feature_distill=args.feature_distill, lr=args.lr,
                         batch_size=args.batch_size, ema=args.ema, device=args.device, seed=args.seed,
                         sample_every=args.sample_every, checkpoint_every=args.checkpoint_every, resume=args.resume)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    cancel = CancelToken()
    drive_stage("finetune", ws, run_finetune(cfg, ws, cancel), cancel, quiet=args.quiet)
    return 0
