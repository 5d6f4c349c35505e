"""Sensors on the twin: OGC SensorThings entities and time series (see model, store)."""
