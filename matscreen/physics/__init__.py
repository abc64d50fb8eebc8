"""matscreen.physics."""
