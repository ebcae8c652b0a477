"""Settings (pydantic-settings) and the dataset spec loader."""
