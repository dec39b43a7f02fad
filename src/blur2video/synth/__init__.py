"""Blur synthesis: camera-rotation blur from panoramas and photos, and the dataset writer."""
