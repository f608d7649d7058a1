"""Export: ONNX with metadata and parity (onnx.py), sub-pixel rewrite (subpixel.py), int8/fp16 (quantize.py),
and the workspace stage (stage.py). Import the submodules directly; this package imports nothing heavy."""
