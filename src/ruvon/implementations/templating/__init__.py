"""Implementations of the provider interfaces."""
