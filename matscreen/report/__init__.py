"""matscreen.report."""
