"""The HTTP API: native routes, the Mambu- and seed-shaped dialects, errors."""
