"""The demo: a simulated cohort on the console transport, driven by the real tick functions."""
