"""ONNX models and their pre- and post-processing. The package exports the models'
sizes (``specs``); the models themselves load from their modules on first use."""

from app.inference.specs import (
    AUDIO_DIM,
    AUDIO_RATE,
    AUDIOSET_CLASSES,
    FUSED_DIM,
    IMAGENET_CLASSES,
    PATCH_FRAMES,
    PATCH_SECONDS,
    TEXT_DIM,
    VISUAL_DIM,
    VISUAL_INPUT_SIZE,
)

__all__ = ["AUDIOSET_CLASSES", "AUDIO_DIM", "AUDIO_RATE", "FUSED_DIM", "IMAGENET_CLASSES",
           "PATCH_FRAMES", "PATCH_SECONDS", "TEXT_DIM", "VISUAL_DIM", "VISUAL_INPUT_SIZE"]
