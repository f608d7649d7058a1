"""GAN Pruning Studio: the PySide6 desktop app over the engine (all Qt code lives in this package)."""
