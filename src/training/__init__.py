"""Turn a labelled frame into an XGBoost model, its holdout scores and its served files."""
