"""ONNX Runtime models: sessions, preprocessing, the registry of model files."""
