"""Evidently drift and model-health measurement, and the retrain policy (measure, then decide)."""
