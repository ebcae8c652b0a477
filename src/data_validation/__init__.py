"""Great Expectations gate: derive a suite from spec + reference profile, validate batches."""
