"""matscreen.core."""
