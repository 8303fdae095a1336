"""DECISION example package."""
