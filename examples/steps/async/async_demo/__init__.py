"""ASYNC example package."""
