"""The built-in demo datasets (NOAA daily weather; Amazon fine-food reviews) and their workspace.

The names live here, with no imports, so the command line lists them without loading pandas.
"""

# `driftloop demo --dataset NAME`, the first the default.
DEMO_DATASETS = ("rainfall", "reviews")
