"""The evaluate stage (its settings in config.py load no torch)."""
