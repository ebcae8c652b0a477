"""Drift, model health and label-free estimates (measure); the retrain policy (decide)."""
