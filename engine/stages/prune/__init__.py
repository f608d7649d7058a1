"""The prune stage (settings in config.py load no torch; image-to-image models in image.py)."""
