"""MLflow tracking and registry: versions, the promotion rule, releases, rollback, history."""
