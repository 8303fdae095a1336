"""Load-time parameters example package."""
