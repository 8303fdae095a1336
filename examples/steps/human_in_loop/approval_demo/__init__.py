"""HUMAN_IN_LOOP example package."""
