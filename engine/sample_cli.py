"""gan-sample: images from an exported ONNX generator, with no torch (numpy + onnxruntime + pillow).

Bad input (missing/corrupt model, n <= 0, an output folder that cannot be written) prints ONE line, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MAX_IMAGES = 65536  # one grid; more would only exhaust memory


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gan-sample", description="Generate images from an exported GAN generator (.onnx).")
    p.add_argument("model", metavar="MODEL.onnx", help="a generator exported by gan-prune export")
    p.add_argument("--n", type=int, default=64, help="number of images (64)")
    p.add_argument("--seed", type=int, default=0, help="latent seed: the same seed gives the same images")
    p.add_argument("--label", type=int, default=None,
                   help="conditional models: the class to draw (0 to classes-1); without it, one row per class")
    p.add_argument("--out", default="grid.png", help="the grid PNG to write (grid.png)")
    p.add_argument("--nrow", type=int, default=None, help="images per grid row (default: about square)")
    p.add_argument("--separate", metavar="DIR", default=None, help="also write each image as DIR/NNNN.png")
    p.add_argument("--interpolate", type=int, metavar="STEPS", default=None,
                   help="also write a latent walk of STEPS images next to --out (NAME.interpolate.png)")
    p.add_argument("--input", metavar="PATH|DIR", default=None,
                   help="image-to-image models (superres, inpaint, sketch, paired): an image or a folder of images; "
                        "--out FILE.png writes the output (a before/after grid for several inputs), --out DIR one "
                        "output per input under the same name")
    p.add_argument("--before-after", action="store_true",
                   help="with --input: write input and output side by side, a row per image")
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


def _check_numbers(args) -> None:
    from engine.ondevice import OnDeviceError

    for flag, value, lo, hi in (("--n", args.n, 1, MAX_IMAGES), ("--seed", args.seed, 0, 2**32 - 1),
                                ("--nrow", args.nrow, 1, MAX_IMAGES), ("--interpolate", args.interpolate, 2, 1024),
                                ("--threads", args.threads, 1, 1024)):
        if value is not None and not lo <= value <= hi:
            raise OnDeviceError(f"{flag} must be a whole number between {lo} and {hi:,} (got {value}).")


def _output_file(out: Path) -> Path:
    """--out names a PNG file in a folder that exists (a typo should not leave new folders behind)."""
    from engine.ondevice import OnDeviceError

    if out.is_dir():
        raise OnDeviceError(f"--out {out} is a folder; give a file name such as {out / 'grid.png'}.")
    if out.suffix.lower() != ".png":
        raise OnDeviceError(f"--out {out} must end in .png (the grid is written as PNG).")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise OnDeviceError(f"The folder {parent} for --out does not exist; create it or choose another --out.")
    _writable_folder(parent, "output")
    return out


def run_image(args, session) -> int:
    """--input: one output per input (--out DIR or one file), or a before/after grid (--out FILE.png)."""
    import numpy as np

    from engine.ondevice import OnDeviceError, save_png
    from engine.ondevice_image import ImageModel, before_after, list_inputs

    model = ImageModel(args.model, session=session)
    if args.input is None:
        raise OnDeviceError(f"The model {model.path.name} turns an image into an image (task {model.task}); give "
                            "--input PATH or --input DIR.")
    files = list_inputs(args.input)
    out = Path(args.out)
    to_folder = out.suffix.lower() != ".png"
    if not to_folder:
        _output_file(out)
    x = np.stack([model.fit(f) for f in files])
    outputs = model.run(x)
    if model.note():
        print(f"gan-sample: note: {model.note()}", file=sys.stderr)
    if to_folder:
        _writable_folder(out, "output")
        for f, img in zip(files, outputs):
            save_png(out / f"{f.stem}.png", img)
        print(f"wrote {len(files)} output(s) to {out}")
    elif args.before_after or len(files) > 1:
        save_png(out, before_after(x, outputs))
        print(f"wrote {out} (input | output for {len(files)} image(s))")
    else:
        save_png(out, outputs[0])
        print(f"wrote {out} ({'x'.join(map(str, outputs.shape[1:3]))} from {files[0].name})")
    return 0


def run(args) -> int:
    from engine.ondevice import GeneratorModel, OnDeviceError, grid, save_png
    from engine.ondevice_image import open_session, takes_image

    _check_numbers(args)
    session = open_session(Path(args.model), args.threads)
    if takes_image(session):
        return run_image(args, session)
    if args.input is not None:
        raise OnDeviceError(f"The model {Path(args.model).name} makes images from noise; drop --input.")
    out = _output_file(Path(args.out))
    separate = Path(args.separate) if args.separate else None
    if separate is not None and separate.exists() and not separate.is_dir():
        raise OnDeviceError(f"The --separate folder {separate} is a file, not a folder; choose another.")
    model = GeneratorModel(args.model, threads=args.threads)
    images, nrow, what = _draw(model, args)
    if model.note():  # only once the model has run: a refused model gets its one error line and nothing else
        print(f"gan-sample: note: {model.note()}", file=sys.stderr)
    if separate is not None:  # created only now: a refused run leaves no new folder behind
        _writable_folder(separate, "--separate")
    save_png(out, grid(images, nrow))
    print(f"wrote {out} ({what}, {'x'.join(map(str, model.image_shape))}, seed {args.seed})")
    if separate:
        for i, img in enumerate(images):
            save_png(separate / f"{i:04d}.png", img)
        print(f"wrote {len(images)} images to {separate}")
    if args.interpolate:
        strip = out.with_name(f"{out.stem}.interpolate.png")
        save_png(strip, model.interpolate(args.interpolate, args.seed, args.label))
        print(f"wrote {strip}")
    if args.bench:
        _bench(model, args.threads)
    return 0


def _draw(model, args):
    """(images, images per grid row, what they are in words): --n images, of class --label for a conditional
    model, or one row per class when no --label is given."""
    if args.label is not None:
        model.check_label(args.label)
    if model.num_classes and args.label is None:
        per_class = args.nrow or max(1, args.n // model.num_classes)
        return (model.class_rows(per_class, args.seed), per_class,
                f"{model.num_classes} rows, one per class ({', '.join(model.class_names[:12])}"
                f"{', ...' if model.num_classes > 12 else ''}), of {per_class} images")
    nrow = args.nrow or max(1, int(round(args.n ** 0.5)))
    what = f"{args.n} images" + (f" of class {model.class_names[args.label]}" if args.label is not None else "")
    return model.sample(args.n, args.seed, args.label), nrow, what


def _bench(model, threads: int | None) -> None:
    """Latency at batch 1 and 64 on the fastest ONNX Runtime thread count here (timed), or on --threads."""
    from engine.ondevice_threads import pick_threads

    picked = pick_threads(model.path, model.latent_dim, (1, 64), candidates=[threads] if threads else None)
    how = "as asked" if threads else f"fastest of {', '.join(picked['tried'])}"
    for b in (1, 64):
        ms = picked["latency_ms"][f"ort_b{b}"]
        print(f"batch {b:>3}: {ms:8.2f} ms  ({b / ms * 1000:,.0f} images/s, {picked['threads']} thread(s), {how})")


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    from engine.errors import UserError, cannot_write
    from engine.ondevice import OnDeviceError

    args = build_parser().parse_args(argv)
    main_thread = threading.current_thread() is threading.main_thread()
    # SIGTERM ends like Ctrl-C: exit 130, no traceback.
    old = signal.signal(signal.SIGTERM, signal.default_int_handler) if main_thread else None
    try:
        return run(args)
    except (OnDeviceError, UserError) as e:
        print(f"gan-sample: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a read-only folder: one line naming the file
        refused = cannot_write(e)
        print(f"gan-sample: error: {refused or f'{e.strerror or e} ({e.filename})'}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gan-sample: interrupted", file=sys.stderr)
        return 130
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


if __name__ == "__main__":
    sys.exit(main())
