"""Pure domain code: states, failures, retry policy, keys. Imports nothing from store, api or web."""
