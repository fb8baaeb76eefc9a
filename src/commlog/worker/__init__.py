"""The delivery loop and the retry sweep."""
