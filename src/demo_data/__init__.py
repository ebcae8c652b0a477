"""The built-in demo dataset: NOAA daily weather (rain or not), split into time-ordered batches."""
