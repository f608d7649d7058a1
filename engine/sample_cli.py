"""gan-sample: images from an exported ONNX generator, with no torch (numpy + onnxruntime + pillow); a LiteRT
.tflite through ai-edge-litert (no torch either) and an ExecuTorch .pte (its Python runtime loads torch) alike.

Bad input (missing/corrupt model, n <= 0, an output folder that cannot be written, an output that would replace an
input picture or another output) prints ONE line, exit 2, and writes nothing: every check and every model run
happens before the first file is written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MAX_IMAGES = 65536  # one grid; more would only exhaust memory
DEFAULT_N = 64


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="gan-sample", description="Generate images from an exported GAN generator (.onnx; .pte and "
                                                "TFLite .tflite where ExecuTorch / LiteRT are installed).")
    p.add_argument("model", metavar="MODEL.onnx", help="a generator exported by gan-prune export (.onnx, .pte or "
                                                       ".tflite)")
    p.add_argument("--n", type=int, default=None,
                   help=f"number of images ({DEFAULT_N}); with --input, only the first N pictures (in name order)")
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
                        "output per input, NAME.png (never into the input folder; inputs that share a name, like "
                        "a.png and a.jpg, get a_png.png and a_jpg.png)")
    p.add_argument("--before-after", action="store_true",
                   help="with --input: write input and output side by side, a row per image")
    p.add_argument("--bench", action="store_true",
                   help="print ONNX Runtime latency at batch 1 and 64 (or the model's fixed batch) on the fastest "
                        "thread count (timed)")
    p.add_argument("--threads", type=int, default=None,
                   help="ONNX Runtime threads, at most this machine's CPUs (default: ORT's; with --bench, the "
                        "fastest count, measured)")
    return p


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity, which a container or taskset narrows), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


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
                                ("--nrow", args.nrow, 1, MAX_IMAGES), ("--interpolate", args.interpolate, 2, 1024)):
        if value is not None and not lo <= value <= hi:
            raise OnDeviceError(f"{flag} must be a whole number between {lo} and {hi:,} (got {value}).")
    if args.threads is not None and args.threads < 1:
        raise OnDeviceError(f"--threads must be a whole number of 1 or more (got {args.threads}).")


def _threads(asked: int | None, notes: list[str]) -> int | None:
    """--threads, capped at the CPUs here: more threads than CPUs only fight each other (64 took 13.8 s where 1
    takes a blink, and minutes to stop)."""
    cpus = cpu_count()
    if asked is not None and asked > cpus:
        notes.append(f"--threads {asked} is more than the {cpus} CPU(s) here; using {cpus}.")
        return cpus
    return asked


def _output_file(out: Path) -> Path:
    """--out names a PNG file in a folder that exists (a typo should not leave new folders behind)."""
    from engine.ondevice import OnDeviceError

    if out.is_dir():
        raise OnDeviceError(f"--out {out} is a folder; give a file name such as {out / 'grid.png'}.")
    if out.suffix.lower() != ".png":
        raise OnDeviceError(f"--out {out} must end in .png (the grid is written as PNG).")
    _parent_exists(out)
    return out


def _parent_exists(out: Path) -> None:
    from engine.ondevice import OnDeviceError

    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise OnDeviceError(f"The folder {parent} for --out does not exist; create it or choose another --out.")
    _writable_folder(parent, "output")


def _image_out(out: Path) -> bool:
    """With --input, --out is a .png file or a folder (existing, or new in a folder that exists); True for a
    folder. Checked like the noise path's --out: nothing is created for a name that is neither."""
    from engine.ondevice import OnDeviceError

    if out.is_dir():
        if not os.access(out, os.W_OK):
            raise OnDeviceError(f"The output folder {out} is not writable; choose another.")
        return True
    if out.suffix.lower() == ".png":
        _output_file(out)
        return False
    if out.exists():
        raise OnDeviceError(f"--out {out} is a file, not a folder; give a folder for one output per picture, or a "
                            "name ending in .png.")
    if out.suffix:
        raise OnDeviceError(f"--out {out} must end in .png (outputs are written as PNG) or name a folder without "
                            "an extension.")
    _parent_exists(out)
    return True


def _file_ids(paths: list[Path]) -> dict[tuple[int, int], Path]:
    ids = {}
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        ids[(st.st_dev, st.st_ino)] = p
    return ids


def _replaced(target: Path, ids: dict[tuple[int, int], Path]) -> Path | None:
    """The existing file (of `ids`) that writing `target` would replace, or None."""
    try:
        st = os.stat(target)
    except OSError:
        return None
    return ids.get((st.st_dev, st.st_ino))


def _refuse_overwrites(args, out: Path, to_folder: bool, targets: list[Path], files: list[Path]) -> None:
    """No output may replace an input picture or the model, however the paths are spelled (links, '..')."""
    from engine.ondevice import OnDeviceError

    src = Path(args.input)
    if to_folder and out.is_dir() and src.is_dir() and _replaced(out, _file_ids([src])):
        raise OnDeviceError(f"--out {out} is the --input folder: the outputs would replace your pictures there; "
                            "choose another folder.")
    ids = _file_ids(files)
    model = _file_ids([Path(args.model)])
    for t in targets:
        if (hit := _replaced(t, ids)) is not None:
            raise OnDeviceError(f"--out {t} would replace the input picture {hit} (--input); choose another name.")
        if _replaced(t, model) is not None:
            raise OnDeviceError(f"--out {t} would replace the model {args.model}; choose another name.")


NOISE_ONLY = ("interpolate", "separate", "label", "nrow")  # flags an image-to-image model has no use for


def run_image(args, session, notes: list[str], threads: int | None) -> int:
    """--input: one output per input (--out DIR or one file), or a before/after grid (--out FILE.png)."""
    import numpy as np

    from engine.ondevice import OnDeviceError, save_png
    from engine.ondevice.image import ImageModel, before_after, list_inputs, output_names

    model = ImageModel(args.model, session=session)
    what = f"{model.path.name} turns an image into an image (task {model.task})"
    given = [f"--{f}" for f in NOISE_ONLY if getattr(args, f) is not None]
    if given:
        raise OnDeviceError(f"{given[0]} is for models that make images from noise, but {what}; drop {given[0]} "
                            "and give --input.")
    if args.input is None:
        raise OnDeviceError(f"The model {what}; give --input PATH or --input DIR.")
    files = list_inputs(args.input)
    picked = files[:args.n] if args.n else files
    out = Path(args.out)
    to_folder = _image_out(out)
    if to_folder and args.before_after:
        raise OnDeviceError(f"--before-after writes one grid, but --out {out} is a folder; give --out FILE.png, or "
                            "drop --before-after for one output per picture.")
    names, renamed = output_names(picked) if to_folder else ([], None)
    targets = [out / n for n in names] if to_folder else [out]
    _refuse_overwrites(args, out, to_folder, targets, files)
    x = np.stack([model.fit(f) for f in picked])
    outputs = model.run(x)
    for line in [*notes, model.note(), renamed and renamed + "."]:
        if line:
            print(f"gan-sample: note: {line}", file=sys.stderr)
    which = f" (the first {len(picked)} of {len(files)} pictures, --n {args.n})" if len(picked) < len(files) else ""
    if to_folder:
        _writable_folder(out, "output")
        for t, img in zip(targets, outputs):
            save_png(t, img)
        print(f"wrote {len(targets)} output(s) to {out}{which}")
    elif args.before_after or len(picked) > 1:
        save_png(out, before_after(x, outputs))
        print(f"wrote {out} (input | output for {len(picked)} image(s)){which}")
    else:
        save_png(out, outputs[0])
        print(f"wrote {out} ({'x'.join(map(str, outputs.shape[1:3]))} from {picked[0].name})")
    if args.bench:
        batches = (model.batch,) if model.batch else (1, 64)
        _bench(model.path, 0, batches, threads, model.bench_feeds(batches))
    return 0


def run(args) -> int:
    from engine.ondevice import OnDeviceError
    from engine.ondevice.image import open_session, takes_image

    _check_numbers(args)
    notes: list[str] = []
    threads = _threads(args.threads, notes)
    session = open_session(Path(args.model), threads)
    if takes_image(session):
        return run_image(args, session, notes, threads)
    if args.input is not None:
        raise OnDeviceError(f"The model {Path(args.model).name} makes images from noise; drop --input.")
    if args.before_after:
        raise OnDeviceError(f"--before-after needs --input, but {Path(args.model).name} makes images from noise; "
                            "drop --before-after.")
    return run_noise(args, session, notes, threads)


def run_noise(args, session, notes: list[str], threads: int | None) -> int:
    """A grid of --n images (and --separate files, an --interpolate strip, --bench numbers)."""
    from engine.ondevice import GeneratorModel, OnDeviceError, grid, save_png
    from engine.ondevice.runtimes import is_edge_file

    out = _output_file(Path(args.out))
    separate = Path(args.separate) if args.separate else None
    if separate is not None and separate.exists() and not separate.is_dir():
        raise OnDeviceError(f"The --separate folder {separate} is a file, not a folder; choose another.")
    model = GeneratorModel(args.model, session=session)
    images, nrow, what = _draw(model, args)
    strip = model.interpolate(args.interpolate, args.seed, args.label) if args.interpolate else None
    _refuse_noise_overwrites(args, out, separate, len(images))
    for line in [*notes, model.note()]:  # only once the model has run: a refused model gets one error line only
        if line:
            print(f"gan-sample: note: {line}", file=sys.stderr)
    if separate is not None:  # created only now: a refused run leaves no new folder behind
        _writable_folder(separate, "--separate")
    save_png(out, grid(images, nrow))
    print(f"wrote {out} ({what}, {'x'.join(map(str, model.image_shape))}, seed {args.seed})")
    if separate:
        for i, img in enumerate(images):
            save_png(separate / f"{i:04d}.png", img)
        print(f"wrote {len(images)} images to {separate}")
    if strip is not None:
        strip_path = out.with_name(f"{out.stem}.interpolate.png")
        save_png(strip_path, strip)
        print(f"wrote {strip_path}")
    if args.bench:  # an ExecuTorch or LiteRT session takes any batch (in slices of its own)
        fixed = model.batch and not is_edge_file(model.path)
        _bench(model.path, model.latent_dim, (model.batch,) if fixed else (1, 64), threads)
    return 0


def _refuse_noise_overwrites(args, out: Path, separate: Path | None, n: int) -> None:
    """The grid is never one of the --separate images (nor the model file)."""
    from engine.ondevice import OnDeviceError

    if _replaced(out, _file_ids([Path(args.model)])) is not None:
        raise OnDeviceError(f"--out {out} would replace the model {args.model}; choose another name.")
    if separate is None or out.name.casefold() not in {f"{i:04d}.png" for i in range(n)}:
        return
    same = _replaced(out.parent, _file_ids([separate])) is not None if separate.exists() else \
        os.path.abspath(out.parent) == os.path.abspath(separate)
    if same:
        raise OnDeviceError(f"--out {out} is also where --separate writes image {int(out.stem)}; choose another "
                            "--out or --separate folder.")


def _draw(model, args):
    """(images, images per grid row, what they are in words): --n images, of class --label for a conditional
    model, or one row per class when no --label is given."""
    n = args.n or DEFAULT_N
    if args.label is not None:
        model.check_label(args.label)
    if model.num_classes and args.label is None:
        per_class = args.nrow or max(1, n // model.num_classes)
        return (model.class_rows(per_class, args.seed), per_class,
                f"{model.num_classes} rows, one per class ({', '.join(model.class_names[:12])}"
                f"{', ...' if model.num_classes > 12 else ''}), of {per_class} images")
    nrow = args.nrow or max(1, int(round(n ** 0.5)))
    what = f"{n} images" + (f" of class {model.class_names[args.label]}" if args.label is not None else "")
    return model.sample(n, args.seed, args.label), nrow, what


def _bench(path: Path, latent_dim: int, batches: tuple[int, ...], threads: int | None, feeds=None) -> None:
    """Latency at each batch size (1 and 64, or the model's fixed batch) on the fastest ONNX Runtime thread count
    here (timed), or on --threads."""
    from engine.ondevice.threads import pick_threads

    picked = pick_threads(path, latent_dim, batches, candidates=[threads] if threads else None, feeds=feeds)
    how = "as asked" if threads else f"fastest of {', '.join(picked['tried'])}"
    for b in batches:
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
