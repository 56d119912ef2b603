"""The one exception tree of josev-hal.

Every error raised on purpose by josev-hal or by a plugin derives from :class:`HalError`, so a caller
(the CLI, the bridge, a test) can catch one type and still print a message that says *which* device,
plugin, file or JSON path was at fault. Context travels as attributes, not only as text, so the core
can route a :class:`DeviceError` to the right ``hardware_fault`` without parsing strings.

::

    HalError
    ├── ConfigError                 board profile or settings are wrong (file, line, key path)
    │   └── ProfileError
    ├── PluginError                 a plugin failed to load or registered something invalid
    ├── MessageError (ValueError)   a Josev API message failed to decode/validate (JSON path)
    │   └── UnknownMessageError     (name, type) is not part of the contract
    ├── BridgeError                 MQTT connection / publish problems
    │   └── RequestTimeout          a CS->Josev request got no response in time
    ├── DeviceError                 a driver could not do what was asked (device id, plugin)
    │   ├── BusError                the bus itself failed (serial, I2C NACK, CAN)
    │   │   └── CrcError            a frame arrived corrupted
    │   ├── DeviceTimeout           the device did not answer in time
    │   └── DeviceOffline           the device is considered gone until it answers again
    └── SafetyError                 an action was refused because an interlock forbids it
"""

from __future__ import annotations

__all__ = [
    "BridgeError",
    "BusError",
    "ConfigError",
    "CrcError",
    "DeviceError",
    "DeviceOffline",
    "DeviceTimeout",
    "HalError",
    "MessageError",
    "PluginError",
    "ProfileError",
    "RequestTimeout",
    "SafetyError",
    "UnknownMessageError",
]


class HalError(Exception):
    """Base class of every error josev-hal raises on purpose."""


class ConfigError(HalError):
    """Configuration (board profile, CLI options, environment) is invalid."""


class ProfileError(ConfigError):
    """A board profile is invalid.

    ``problems`` holds every problem found in the file (not just the first), each already formatted
    as ``<file>[:<line>]: <key path>: <reason>``; ``str(error)`` joins them one per line.
    """

    def __init__(self, problems: list[str] | str, *, path: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.path = path
        super().__init__("\n".join(self.problems))


class PluginError(HalError):
    """A plugin could not be loaded or contributed something invalid.

    ``plugin`` names the plugin (entry-point name or module) and ``distribution`` the installed
    distribution that provides it, when known.
    """

    def __init__(self, message: str, *, plugin: str | None = None, distribution: str | None = None) -> None:
        self.plugin = plugin
        self.distribution = distribution
        super().__init__(message)


class MessageError(HalError, ValueError):
    """A Josev API message is malformed or violates the contract.

    ``path`` is the JSON path of the offending value (``$.data.state``), ``reason`` the
    human-readable cause; ``str(error)`` is ``"<path>: <reason>"``. ``name``/``type`` are filled
    in when the envelope could be read, and ``msg_id`` when the envelope carried an id (so that a
    request can still be answered with an error response).
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str = "$",
        name: str | None = None,
        type: str | None = None,
        msg_id: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.name = name
        self.type = type
        self.msg_id = msg_id
        super().__init__(f"{path}: {reason}")


class UnknownMessageError(MessageError):
    """The envelope is valid but (name, type) is not a message of the contract."""


class BridgeError(HalError):
    """The MQTT bridge could not connect, publish or subscribe."""


class RequestTimeout(BridgeError):
    """A request the CS sent to Josev was not answered within its timeout."""


class DeviceError(HalError):
    """A device driver failed.

    ``device`` is the device id from the board profile (for example ``evse[0].meter``), ``plugin``
    the plugin that provides the driver. Both appear in ``str(error)`` so a log line is enough to
    find the part on the board.
    """

    def __init__(self, message: str, *, device: str | None = None, plugin: str | None = None) -> None:
        self.device = device
        self.plugin = plugin
        self.detail = message
        prefix = ""
        if device:
            prefix = f"{device}"
            if plugin:
                prefix += f" ({plugin})"
            prefix += ": "
        super().__init__(prefix + message)


class BusError(DeviceError):
    """The bus (serial port, I2C adapter, CAN interface) reported an error."""


class CrcError(BusError):
    """A frame arrived with a bad checksum."""


class DeviceTimeout(DeviceError):
    """The device did not answer within its timeout."""


class DeviceOffline(DeviceError):
    """The device failed too often and is treated as absent until it answers again."""


class SafetyError(HalError):
    """An action was refused because a safety interlock forbids it (the reason says which)."""
