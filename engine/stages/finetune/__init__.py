"""The fine-tune stage (its settings in config.py load no torch)."""
