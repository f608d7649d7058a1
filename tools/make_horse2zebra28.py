"""Derive resources/datasets/horse2zebra-28.npz from the animal-mnist wheel's 28x28 silhouettes (class 7 horses,
class 9 zebras), for the unpaired task's offline data.

Run once by a developer: `python tools/make_horse2zebra28.py path/to/animal_mnist-0.4-py3-none-any.whl`. The
wheel stores its arrays as gzipped pickles; they are read here with an unpickler that admits numpy's array
reconstruction and nothing else (no code of the wheel runs), and the app reads only the .npz this writes.
"""

import gzip
import io
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np

HORSE, ZEBRA = 7, 9  # the wheel's order: bear bird cat cow dog elephant giraffe horse sheep zebra
PER_DOMAIN = 700  # 70 held-out test images per domain (every 10th): enough for FID in a 32-feature space
ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
           ("numpy", "ndarray"), ("numpy", "dtype")}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: only numpy arrays are expected")
        return super().find_class(module.replace("numpy.core.", "numpy._core.") if np.__version__ >= "2"
                                  else module, name)


def _read(wheel: zipfile.ZipFile, name: str) -> np.ndarray:
    raw = gzip.decompress(wheel.read(f"animal_mnist/data/Animal_MNIST/{name}"))
    return np.asarray(_ArraysOnly(io.BytesIO(raw)).load())


def main(path: str) -> None:
    with zipfile.ZipFile(path) as wheel:
        images, labels = _read(wheel, "animal_data_version_3.gz"), _read(wheel, "animal_label_version_3.gz")
    images = images.reshape(len(images), 28, 28).astype(np.uint8)
    labels = labels.reshape(-1).astype(np.int64)
    a = images[labels == HORSE][:PER_DOMAIN]
    b = images[labels == ZEBRA][:PER_DOMAIN]
    out = Path(__file__).resolve().parent.parent / "resources" / "datasets" / "horse2zebra-28.npz"
    np.savez_compressed(out, a=a, b=b)
    print(f"{len(a)} horses, {len(b)} zebras (mean pixel {a.mean():.1f} / {b.mean():.1f}), wrote {out} "
          f"({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
