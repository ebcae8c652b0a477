"""The built-in demo dataset (NOAA daily weather, rain or not) and the demo's workspace."""
