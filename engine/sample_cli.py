"""gan-sample: images from an exported ONNX generator, with no torch (numpy + onnxruntime + pillow).

Bad input (missing/corrupt model, n <= 0, an output folder that cannot be written) prints ONE line, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gan-sample", description="Generate images from an exported GAN generator (.onnx).")
    p.add_argument("model", metavar="MODEL.onnx", help="a generator exported by gan-prune export")
    p.add_argument("--n", type=int, default=64, help="number of images (64)")
    p.add_argument("--seed", type=int, default=0, help="latent seed: the same seed gives the same images")
    p.add_argument("--out", default="grid.png", help="the grid PNG to write (grid.png)")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row (default: about square)")
    p.add_argument("--separate", metavar="DIR", default=None, help="also write each image as DIR/NNNN.png")
    p.add_argument("--interpolate", type=int, metavar="STEPS", default=None,
                   help="also write a latent walk of STEPS images next to --out (NAME.interpolate.png)")
    p.add_argument("--bench", action="store_true",
                   help="print ONNX Runtime latency at batch 1 and 64 on the fastest thread count (timed)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: ORT's; with --bench, "
                                                             "the fastest count, measured)")
    return p


def _writable_folder(folder: Path, what: str) -> Path:
    from engine.ondevice import OnDeviceError

    if folder.exists() and not folder.is_dir():
        raise OnDeviceError(f"The {what} folder {folder} is a file, not a folder; choose another.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OnDeviceError(f"Cannot create the {what} folder {folder} ({e.strerror}); choose another.") from None
    if not os.access(folder, os.W_OK):
        raise OnDeviceError(f"The {what} folder {folder} is not writable; choose another.")
    return folder


def run(args) -> int:
    from engine.ondevice import GeneratorModel, OnDeviceError, grid, save_png

    if args.n <= 0:
        raise OnDeviceError(f"--n must be a whole number above 0 (got {args.n}).")
    if args.interpolate is not None and args.interpolate < 2:
        raise OnDeviceError(f"--interpolate needs at least 2 steps (got {args.interpolate}).")
    out = Path(args.out)
    _writable_folder(out.parent if str(out.parent) else Path("."), "output")
    separate = _writable_folder(Path(args.separate), "--separate") if args.separate else None
    model = GeneratorModel(args.model, threads=args.threads)
    for w in model.warnings:
        print(f"gan-sample: warning: {w}", file=sys.stderr)
    images = model.sample(args.n, args.seed)
    nrow = args.nrow or max(1, int(round(args.n ** 0.5)))
    save_png(grid(images, nrow), out)
    print(f"wrote {out} ({args.n} images, {'x'.join(map(str, model.image_shape))}, seed {args.seed})")
    if separate:
        for i, img in enumerate(images):
            save_png(img, separate / f"{i:04d}.png")
        print(f"wrote {args.n} images to {separate}")
    if args.interpolate:
        strip = out.with_name(f"{out.stem}.interpolate.png")
        save_png(model.interpolate(args.interpolate, args.seed), strip)
        print(f"wrote {strip}")
    if args.bench:
        _bench(model, args.threads)
    return 0


def _bench(model, threads: int | None) -> None:
    """Latency at batch 1 and 64 on the fastest ONNX Runtime thread count here (timed), or on --threads."""
    from engine.export.threads import pick_threads

    picked = pick_threads(model.path, model.latent_dim, (1, 64), candidates=[threads] if threads else None)
    how = "as asked" if threads else f"fastest of {', '.join(picked['tried'])}"
    for b in (1, 64):
        ms = picked["latency_ms"][f"ort_b{b}"]
        print(f"batch {b:>3}: {ms:8.2f} ms  ({b / ms * 1000:,.0f} images/s, {picked['threads']} thread(s), {how})")


def main(argv: list[str] | None = None) -> int:
    from engine.ondevice import OnDeviceError

    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except OnDeviceError as e:
        print(f"gan-sample: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gan-sample: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
