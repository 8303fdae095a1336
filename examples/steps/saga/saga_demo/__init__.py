"""Saga example package."""
