"""Prefect only: the flows, their thin tasks, settings -> stage parameters, run endings, CLI."""
