"""Settings (pydantic-settings), the dataset spec loader and the training-data manifest."""
