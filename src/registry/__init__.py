"""MLflow tracking and registry: log runs, register versions, decide and apply promotions."""
