"""Fixtures: a private mosquitto broker per test session (filled by the bridge work)."""
