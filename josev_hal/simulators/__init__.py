"""Simulated hardware peers (product code): they speak the real wire protocols, so tests, the
probe and the demos exercise the same drivers that run on a real board."""
