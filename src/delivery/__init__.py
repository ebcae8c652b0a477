"""The CT -> CD hand-off (a GitHub `repository_dispatch` per release) and notifications."""
