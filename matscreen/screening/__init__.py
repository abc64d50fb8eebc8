"""matscreen.screening."""
