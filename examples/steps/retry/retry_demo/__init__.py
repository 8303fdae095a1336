"""retry example package."""
