"""The train stage: noise GANs in run.py, image-to-image (pix2pix) in image.py."""
