"""What the models take and give: sizes every other part of the app builds on.

One home for these numbers; ``app.core`` imports them from here (through ``app.inference``)
instead of repeating them. Importing this module loads no model and no ONNX Runtime, so
decode worker processes can use it.
"""

# EfficientNet-Lite0 (app.inference.visual): RGB frames in, a 1280-d embedding and
# ImageNet-1k probabilities out.
VISUAL_INPUT_SIZE = 224
VISUAL_DIM = 1280
IMAGENET_CLASSES = 1000

# YAMNet (app.inference.audio): 16 kHz mono in, one 1024-d embedding and 521 AudioSet
# scores per patch of 96 frames at a 10 ms hop.
AUDIO_RATE = 16000
AUDIO_DIM = 1024
AUDIOSET_CLASSES = 521
PATCH_FRAMES = 96
PATCH_SECONDS = 0.96

# all-MiniLM-L6-v2 (app.inference.text): sentence embeddings.
TEXT_DIM = 384

# Fused vectors (app.core.indexing.indexer): the picture half, then the sound half.
FUSED_DIM = VISUAL_DIM + AUDIO_DIM
