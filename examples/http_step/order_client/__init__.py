"""The HTTP step example: a state model and two small step functions."""
