"""Meter model files shipped by the example plugin (entry-point group ``josev_hal.meter_models``)."""
