"""The student at the edge: exported to ONNX, run by ONNX Runtime (`edge.export`)."""
