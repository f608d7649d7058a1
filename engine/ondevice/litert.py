"""A LiteRT (.tflite) generator run by ai-edge-litert's interpreter, torch-free (numpy only), as a session the
sampler reads like ONNX Runtime's. The file takes the batch it was exported with (1: litert-torch cannot convert a
dynamic batch); the sampler runs larger batches in slices of that size (engine.ondevice.run_in_batches).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.ondevice import OnDeviceError
from engine.ondevice.runtimes import TYPE_NAMES, EdgeSession, Port


class LiteRTSession(EdgeSession):
    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__(path)
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(model_path=str(path), num_threads=threads or None)
            self.runner = self.interpreter.get_signature_runner()
        except (ValueError, RuntimeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise OnDeviceError(f"The file {path} is not a readable LiteRT model ({first[:100]}); export it again "
                                "with gan-prune export --format litert.") from None
        ins, outs = self.runner.get_input_details(), self.runner.get_output_details()
        self._arg_names = list(ins)  # the signature's own names (args_0, args_1), in the order of the inputs
        self._out_name = next(iter(outs))
        self._dtypes = [np.dtype(ins[k]["dtype"]) for k in self._arg_names]
        names = self._names("inputs", len(ins), ["z", "label"])
        self._inputs = [Port(n, [int(v) for v in ins[k]["shape"]], TYPE_NAMES.get(d, str(d)))
                        for n, k, d in zip(names, self._arg_names, self._dtypes)]
        out = outs[self._out_name]
        self._outputs = [Port(self._names("outputs", 1, ["image"])[0], [int(v) for v in out["shape"]],
                              TYPE_NAMES.get(np.dtype(out["dtype"]), str(out["dtype"])))]

    def _call(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Any batch, in slices of the file's own (its XNNPACK delegate cannot resize): what batch 64 costs on a
        device with this file."""
        step = self._inputs[0].shape[0] if self._inputs[0].shape else len(arrays[0])
        outs = []
        for i in range(0, len(arrays[0]), max(1, step)):
            feeds = {k: np.ascontiguousarray(a[i:i + step], dtype=d)
                     for k, a, d in zip(self._arg_names, arrays, self._dtypes)}
            outs.append(np.array(self.runner(**feeds)[self._out_name]))  # a copy: the interpreter reuses its buffer
        return np.concatenate(outs)
