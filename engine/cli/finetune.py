"""gan-prune finetune: fine-tune the pruned model with its D plus distillation from the dense teacher."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered


def register(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune the pruned GAN (adversarial + distillation from the dense G)")
    add_workspace_arg(p)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--distill", type=float, default=1.0,
                   help="overall teacher weight: multiplies every term below (with --distill-output 1 it is the "
                        "output weight); 0 turns distillation off")
    p.add_argument("--distill-output", type=float, default=1.0, help="L1/MSE to the teacher's image; 0 = off")
    p.add_argument("--distill-features", "--feature-distill", type=float, default=1.0,
                   help="hidden maps matched through learned 1x1 adapters; 0 = off")
    p.add_argument("--distill-perceptual", type=float, default=1.0,
                   help="feature-net activations of student vs teacher image; 0 = off")
    p.add_argument("--output-loss", choices=["l1", "mse"], default="l1")
    p.add_argument("--discriminator", choices=["pruned", "teacher", "match"], default="pruned",
                   help="D to train against: as pruned, the teacher's full D, or the teacher's D cut to G's share")
    p.add_argument("--student-widths", type=_widths, default=None, metavar="W1,W2,...",
                   help="train a slim student of these G widths from scratch instead of the pruned model")
    p.add_argument("--probe-every", type=int, default=250, help="quick FID probe interval; the best step is kept")
    p.add_argument("--probe-samples", type=int, default=1000, help="images per probe; 0 = off (keep the last step)")
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


def _widths(text: str) -> tuple[int, ...]:
    import argparse

    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths are whole numbers separated by commas, e.g. 64,32 "
                                         f"(got {text!r})") from None
    return widths


def run(args) -> int:
    from engine.finetune import FinetuneConfig
    from engine.workspace import Workspace

    cfg = FinetuneConfig(steps=args.steps, distill=args.distill, distill_output=args.distill_output,
                         distill_features=args.distill_features, distill_perceptual=args.distill_perceptual,
                         output_loss=args.output_loss, discriminator=args.discriminator,
                         student_widths=args.student_widths, probe_every=args.probe_every,
                         probe_samples=args.probe_samples, lr=args.lr, batch_size=args.batch_size, ema=args.ema,
                         device=args.device, seed=args.seed, sample_every=args.sample_every,
                         checkpoint_every=args.checkpoint_every, resume=args.resume)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("finetune", cfg, ws, quiet=args.quiet)
    return 0
