"""The CT -> CD hand-off: ask GitHub Actions to ship a promoted model."""
