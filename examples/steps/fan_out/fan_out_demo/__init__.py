"""Dynamic PARALLEL fan-out example package."""
