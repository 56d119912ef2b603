"""The second northbound: EVerest's external MQTT API ("EVerest API") served from the board.

* :mod:`~josev_hal.everest.messages` -- msgspec Structs of the payloads
* :mod:`~josev_hal.everest.codec` -- topics, the payload table, strict decode/encode
* :mod:`~josev_hal.everest.link` -- the MQTT link (the bridge's MqttConnection), routing, worker
* :mod:`~josev_hal.everest.bsp` -- evse_board_support with ac_rcd and connector_lock, and the
  hardware-side second channel
* :mod:`~josev_hal.everest.powermeter`, :mod:`~josev_hal.everest.isolation`,
  :mod:`~josev_hal.everest.power_supply`, :mod:`~josev_hal.everest.auth` -- one adapter each
* :mod:`~josev_hal.everest.monitor` -- heartbeat watchdog and communication check, discovery
* :mod:`~josev_hal.everest.northbound` -- :class:`EverestNorthbound`, built from a profile
* :mod:`~josev_hal.everest.emulator` -- the EVerest side for ``josev-hal emulate-everest``

See docs/architecture.md ("Second northbound") for the split between EVerest and the HAL.
"""
