"""An ExecuTorch (.pte) generator run by executorch.runtime, as a session the sampler reads like ONNX Runtime's.

ExecuTorch's Python runtime takes torch tensors, so this one module of the sampler loads torch (on a phone the C++
runtime needs none); the import-linter contract names it. The file takes any batch up to the one its memory was
planned for (the side-car's max_batch); a larger batch runs in slices of that size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.ondevice import OnDeviceError
from engine.ondevice.runtimes import EdgeSession, Port

# ExecuTorch's ScalarType numbers (and names, as some versions print them) as ONNX Runtime names the types
DTYPES = {6: "tensor(float)", 4: "tensor(int64)", 3: "tensor(int64)", 5: "tensor(float16)",
          "Float": "tensor(float)", "Long": "tensor(int64)", "Int": "tensor(int64)", "Half": "tensor(float16)"}


def _type(dtype) -> str:
    key = dtype if isinstance(dtype, int) else str(dtype).split(".")[-1]
    return DTYPES.get(key, str(dtype))


_pool = {"threads": None}  # XNNPACK's thread pool: one per process, sized before the first program loads


def set_threads(threads: int | None) -> int | None:
    """Size the process's thread pool before the first program loads and return the count in effect (None:
    unknown). Resizing it under a loaded XNNPACK program crashed the process (a segfault in executorch 1.5.1), so
    a later session asking for another count runs on the first one's: to compare counts, use one process each."""
    try:
        from executorch.extension.pybindings import portable_lib
    except ImportError:
        return None
    if _pool["threads"] is None:
        if threads:
            try:
                portable_lib._unsafe_reset_threadpool(int(threads))
            except (AttributeError, RuntimeError):  # the private API moved: the runtime's default count
                pass
        try:
            _pool["threads"] = int(portable_lib._threadpool_get_thread_count())
        except (AttributeError, RuntimeError):
            _pool["threads"] = threads
    return _pool["threads"]


class ExecuTorchSession(EdgeSession):
    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__(path)
        import torch  # noqa: F401  (the runtime's tensors)
        from executorch.runtime import Runtime

        self.threads = set_threads(threads) or threads  # the count it really runs on
        try:
            self.method = Runtime.get().load_program(str(path)).load_method("forward")
        except (RuntimeError, ValueError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise OnDeviceError(f"The file {path} is not a readable ExecuTorch program ({first[:100]}); export it "
                                "again with gan-prune export --format executorch.") from None
        meta = self.method.metadata
        ins = [meta.input_tensor_meta(i) for i in range(meta.num_inputs())]
        out = meta.output_tensor_meta(0)
        max_batch = self.card.get("max_batch")
        self.max_batch = max_batch if isinstance(max_batch, int) and max_batch > 0 else None
        names = self._names("inputs", len(ins), ["z", "label"])
        self._inputs = [Port(n, self._shape(t.sizes()), _type(t.dtype()))
                        for n, t in zip(names, ins)]
        self._dtypes = [t.dtype() for t in ins]
        self._outputs = [Port(self._names("outputs", 1, ["image"])[0], self._shape(out.sizes()), "tensor(float)")]

    def _shape(self, sizes) -> list:
        """The planned sizes, with the batch named when the file takes several (as ONNX Runtime shows a dynamic
        axis), so the sampler does not take the planned maximum for a fixed batch."""
        shape = [int(v) for v in sizes]
        return ["batch", *shape[1:]] if self.max_batch and shape else shape

    def _call(self, arrays: list[np.ndarray]) -> np.ndarray:
        import torch

        n = len(arrays[0])
        step = self.max_batch or n
        outs = []
        for i in range(0, n, step):
            tensors = [torch.from_numpy(np.ascontiguousarray(a[i:i + step])) for a in arrays]
            if len(tensors) > 1:
                tensors[1] = tensors[1].to(torch.int64)
            outs.append(self.method.execute(tensors)[0].numpy().copy())
        return np.concatenate(outs)
