"""Networks: the staged backbones (torchvision, EfficientNet-Lite0 of the PyPI package), C2AM (encoder +
activation head + disentangler), PooledNet (localizer / classifier / CAM classifier) and the conversion of
published checkpoints into the backbones' key space (inits)."""
