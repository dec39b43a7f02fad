"""Image and video I/O, the Dataset over DATASET/ folders, crops."""
