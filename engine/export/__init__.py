"""Export: ONNX with metadata and parity (onnx.py), sub-pixel rewrite (subpixel.py), graph edits and opset
(graph.py), int8/fp16 (quantize.py), the precision table (precisions.py), thread choice (threads.py) and the
workspace stage (stage.py). Import the submodules directly; this package imports nothing heavy."""
