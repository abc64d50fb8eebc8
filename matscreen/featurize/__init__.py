"""matscreen.featurize."""
