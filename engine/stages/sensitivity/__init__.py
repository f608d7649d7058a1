"""The sensitivity scan stage (settings in config.py load no torch)."""
