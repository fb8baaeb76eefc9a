"""Persistence: tables, the claim/lease queue, migrations. The log is the queue (DESIGN.md, idea 1)."""
