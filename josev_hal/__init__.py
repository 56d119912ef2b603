"""josev-hal: the charging-station side of the Josev API.

A daemon that answers Josev's MQTT requests and publishes the station's updates from real hardware,
and a library + plugin system for bringing up new boards. See the README for the overview and
``docs/architecture.md`` for the internal contracts.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("josev-hal")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
