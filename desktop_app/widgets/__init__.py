"""Reusable widgets: live loss plots, image grids, the layer table and the small charts."""
