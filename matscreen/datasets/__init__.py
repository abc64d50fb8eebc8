"""matscreen.datasets."""
