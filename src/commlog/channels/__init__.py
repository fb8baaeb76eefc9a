"""One module per channel, each behind the small interface in `base`."""
