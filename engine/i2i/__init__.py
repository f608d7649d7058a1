"""Image-to-image GANs (pix2pix): tasks, the training step and each stage's image-input path."""
