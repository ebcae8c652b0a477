"""Prefect only: tasks (thin wrappers over the stage packages), flows and the command line."""
