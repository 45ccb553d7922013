"""Writes and heavier work of the rewards app: snapshot, runs, registry, scoring, priority."""
