"""The export stage (its settings in config.py load no torch)."""
