"""Test-only stand-ins for chat platforms."""
