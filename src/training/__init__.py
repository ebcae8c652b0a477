"""Features, XGBoost fit, metrics: turn a labelled frame into a model and its holdout scores."""
