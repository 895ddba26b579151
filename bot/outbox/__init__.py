"""The pipeline out.

Planning, queueing (the only writer of outbox rows), rendering, dispatching, nudges, digests.
"""
