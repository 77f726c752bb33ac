"""Training recipes for the small cross-encoders shipped in ``assistant/models/`` (see docs/models.md).

Nothing here is imported on the query path: ``assistant.crossencoder`` loads the exported ONNX files
with onnxruntime + tokenizers only. Data are generated from a seed by code (a recipe), not committed.
"""
