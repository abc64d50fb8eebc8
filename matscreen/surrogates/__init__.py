"""matscreen.surrogates."""
