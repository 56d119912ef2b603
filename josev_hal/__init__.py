"""josev-hal: the charging-station side of the Josev API.

A daemon that answers Josev's MQTT requests and publishes the station's updates from real hardware,
and a library + plugin system for bringing up new boards. See the README for the overview and
``docs/architecture.md`` for the internal contracts.
"""

# A static string, not importlib.metadata.version(): that lookup imports importlib.metadata (and
# email, zipfile, ...) and scans the installed distributions, 30-45 ms on every start of every
# command. It is kept equal to pyproject.toml's [project] version by tests/test_startup.py.
__version__ = "0.1.0"

__all__ = ["__version__"]
