"""matscreen.candidates."""
