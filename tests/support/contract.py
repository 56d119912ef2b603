"""Fixtures: the shared Josev API contract (filled by the message-layer work)."""
