"""GAN Pruning Studio engine: train, prune, measure, quantize and export GANs. Never imports Qt."""

__version__ = "0.1.0"
APP_NAME = "GAN Pruning Studio"
