"""LOOP example package."""
