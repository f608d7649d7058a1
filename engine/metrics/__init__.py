"""Measurements: model complexity, image quality, latency and the report."""
