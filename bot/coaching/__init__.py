"""Platform-neutral coaching rules: planning, grading, review, struggle, escalation."""
