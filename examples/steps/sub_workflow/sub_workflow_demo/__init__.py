"""SUB_WORKFLOW example package."""
