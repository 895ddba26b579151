"""Platform-neutral coaching rules.

Grading, review, struggle, signals, escalation, policy, calendar, pauses.
"""
