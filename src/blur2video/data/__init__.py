"""The datasets: DATASET/ folders and streamed synthesizers, with crops, flips and degradations."""
