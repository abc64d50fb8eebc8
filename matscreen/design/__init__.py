"""matscreen.design."""
