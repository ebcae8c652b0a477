"""Benchmark beyond memory: the loop on a partitioned dataset with the dask engine, and bare Dask.

For each size it writes a project whose reference, clean seed batch and drift batch are folders
of Parquet partitions (`synthetic.make_frame`'s 20 features, one partition per `--part-rows`
rows; the reference and the seed batch have at most 1M rows), trains a first champion on the
seed batch, then times, each in a new process and with a Prefect server up:

- `driftloop monitor` and `driftloop run --force-retrain` on the drift batch, for each engine
  asked for (`dask`: a LocalCluster of `--workers` processes, each limited to `--memory-limit`);
- the bare baseline (`scale.py bare`): the same every-row checks, drift tests on samples of the
  same size, the champion scoring every row, and for a retrain the same time split and
  `xgboost.dask` fit, written directly with dask.dataframe/xgboost.dask on an identical
  LocalCluster, no orchestration, tracking or reports.

Peak memory is sampled per process (psutil, every 0.2 s): the run's own process ("driver") and
the largest of its worker processes ("worker"). A worker the nanny restarted for exceeding its
limit shows in the output as "exceeded ... memory budget": the benchmark reports it. Results go
to `benchmarks/scale-results.csv` (a size measured again replaces its rows). Run by hand from the
repository root:

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/scale.py --rows 1000000 10000000
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from loop import VENV_BIN, Bench, prefect_server, stages_of
from synthetic import CATEGORICAL, NUMERIC, TARGET, bench_spec, make_frame

HERE = Path(__file__).resolve().parent
FIELDS = [
    "rows",
    "run",
    "engine",
    "wall_s",
    "driver_peak_mb",
    "worker_peak_mb",
    "workers",
    "x_bare",
    "stages",
    "restarts",
    "outcome",
]
SEED_ROWS = 1_000_000  # the reference and the seed batch: enough for a champion, quick to fit
FEATURES = NUMERIC + list(CATEGORICAL)
RESTARTED = "exceeded 95% memory budget"


def write_project(root: Path, rows: int, part_rows: int) -> dict[str, Path]:
    """The reference, seed and drift folders and the spec, written one partition at a time."""
    import yaml  # noqa: PLC0415 - the driver stays small (children inherit nothing big)

    incoming = root / "data" / "incoming" / "bench"
    paths = {
        "reference": root / "data" / "reference",
        "seed": incoming / "batch-0-seed",
        "drift": incoming / "batch-1-drift",
        "spec": root / "bench.yaml",
    }
    plan = [
        ("reference", min(rows, SEED_ROWS), 1, 0),
        ("seed", min(rows, SEED_ROWS), 2, SEED_ROWS),
        ("drift", rows, 3, 2 * SEED_ROWS),
    ]
    for name, count, seed, start in plan:
        folder = paths[name]
        folder.mkdir(parents=True)
        for i in range(math.ceil(count / part_rows)):
            size = min(part_rows, count - i * part_rows)
            frame = make_frame(
                size, seed=seed * 1000 + i, start=start + i * part_rows, drift=name == "drift"
            )
            frame.to_parquet(folder / f"part-{i:04d}.parquet", index=False)
    spec = bench_spec("data/reference")
    paths["spec"].write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return paths


class PeakSampler:
    """The peak RSS of a process and of each of its descendants, sampled in a thread."""

    def __init__(self, pid: int) -> None:  # noqa: D107 - the class docstring says it
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil  # noqa: PLC0415 - as in write_project

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            try:
                family = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for process in family:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)
            self._stop.wait(0.2)

    def driver_mb(self) -> int:
        """The run's own process's peak, MiB."""
        return round(self.peaks.get(self.pid, 0) / 2**20)

    def worker_mb(self) -> tuple[int, int]:
        """The largest descendant's peak (MiB), and how many descendants held over 100 MiB."""
        others = [v for pid, v in self.peaks.items() if pid != self.pid]
        big = [v for v in others if v > 100 * 2**20]
        return (round(max(others) / 2**20) if others else 0), len(big)


def run_child(command: list[str], *, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run `command` to the end: wall seconds, peaks per process, restarts, last output line."""
    started = time.perf_counter()
    log = cwd / "child.log"
    with log.open("wb") as out:
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        with PeakSampler(child.pid) as sampler:
            code = child.wait()
    wall = time.perf_counter() - started
    output = log.read_text(errors="replace")
    lines = output.strip().splitlines()
    worker, workers = sampler.worker_mb()
    result = {
        "wall_s": round(wall, 2),
        "driver_peak_mb": sampler.driver_mb(),
        "worker_peak_mb": worker,
        "workers": workers,
        "restarts": output.count(RESTARTED),
        "outcome": lines[-1][:160] if lines else "",
    }
    if code != 0:
        # A run that fails is a result too (a worker over its limit, say): recorded, not fatal.
        errors = [line for line in lines if "Error" in line or "exceeded" in line]
        why = (errors[-1] if errors else lines[-1] if lines else "")[:160]
        print(f"{' '.join(command)} failed ({code}):\n{output[-2000:]}", flush=True)
        result |= {"wall_s": "", "outcome": f"failed (rc {code}): {why}", "failed": True}
    return result


def engine_env(engine: str, workers: int, memory_limit: str) -> dict[str, str]:
    """The DRIFTLOOP_ENGINE__* settings of one engine."""
    if engine == "local":
        return {"DRIFTLOOP_ENGINE__KIND": "local"}
    return {
        "DRIFTLOOP_ENGINE__KIND": "dask",
        "DRIFTLOOP_ENGINE__WORKERS": str(workers),
        "DRIFTLOOP_ENGINE__MEMORY_LIMIT": memory_limit,
    }


def size(bench: Bench, rows: int, args: argparse.Namespace, out: list[dict[str, Any]]) -> None:
    """Per engine, in a project of its own (the same data): the first model, monitor, retrain.

    Then the bare runs, on the last project's champion.
    """
    engines = [e for e in args.engines if e == "dask" or rows <= args.local_max_rows]
    champion = None
    for engine in engines:
        root = bench.work / f"rows-{rows}-{engine}"
        root.mkdir()
        write = [sys.executable, __file__, "write", str(root), str(rows), str(args.part_rows)]
        subprocess.run(write, check=True)
        champion = _engine_runs(bench, root, rows, engine=engine, args=args, out=out)
    assert champion is not None
    for mode in ("monitor", "retrain"):
        bare = [sys.executable, __file__, "bare", mode, str(root), str(champion)]
        limit = args.bare_memory_limit or args.memory_limit
        bare += [f"--workers={args.workers}", f"--memory-limit={limit}"]
        bare += [f"--sample={args.sample}"]
        result = run_child(bare, env=bench.base, cwd=root)
        _record(
            out,
            rows,
            f"bare {mode}",
            "dask",
            result | {"outcome": ""},
            stages=str(result["outcome"])
            + (f" (workers of {limit})" if limit != args.memory_limit else ""),
        )
    for row in out:
        if row["rows"] == rows and row["run"] in ("monitor", "retrain"):
            baseline = next(
                r for r in out if r["rows"] == rows and r["run"] == f"bare {row['run']}"
            )
            if row["wall_s"] != "" and baseline["wall_s"] != "":
                row["x_bare"] = round(row["wall_s"] / baseline["wall_s"], 2)
    print(f"{rows} rows: {len(engines)} engines and the bare runs done", flush=True)


def _engine_runs(
    bench: Bench,
    root: Path,
    rows: int,
    *,
    engine: str,
    args: argparse.Namespace,
    out: list[dict[str, Any]],
) -> Path:
    """The first model on the seed batch, then monitor and retrain on the drift batch."""
    settings = {
        "DRIFTLOOP_PATHS__SPEC": str(root / "bench.yaml"),
        "DRIFTLOOP_MLFLOW__TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "DRIFTLOOP_TRAINING__WINDOW_BATCHES": "1",
        "DRIFTLOOP_TRAINING__TUNING_TRIALS": "0",
    } | engine_env(engine, args.workers, args.memory_limit)
    driftloop = str(VENV_BIN / "driftloop")
    incoming = root / "data" / "incoming" / "bench"

    def flow(run: str, *command: str) -> None:
        result = run_child([driftloop, *command], env=bench.served | settings, cwd=root)
        _record(out, rows, run, engine, result, stages=stages_of(root))

    flow("first model (no champion)", "run", "--batch", str(incoming / "batch-0-seed"))
    champion = next((root / "mlartifacts").rglob("model.ubj"))
    flow("monitor", "monitor", "--batch", str(incoming / "batch-1-drift"))
    flow("retrain", "run", "--batch", str(incoming / "batch-1-drift"), "--force-retrain")
    return champion


def _record(
    out: list[dict[str, Any]],
    rows: int,
    run: str,
    engine: str,
    result: dict[str, Any],
    *,
    stages: str,
) -> None:
    row = {"rows": rows, "run": run, "engine": engine, **result, "stages": stages}
    out.append(row)
    print(", ".join(f"{k}={row.get(k, '')}" for k in FIELDS), flush=True)


def bare(args: argparse.Namespace) -> None:
    """The bare baseline on a LocalCluster: every-row checks, drift, scoring, and a retrain."""
    import dask.dataframe as dd  # noqa: PLC0415 - the driver stays small
    import xgboost as xgb  # noqa: PLC0415
    import xgboost.dask as dxgb  # noqa: PLC0415
    from bare import (  # noqa: PLC0415
        drift_tests,
    )
    from distributed import Client, LocalCluster  # noqa: PLC0415
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(seconds.get(stage, 0.0) + now - clock, 3)
        clock = now

    incoming = args.project / "data" / "incoming" / "bench"
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            memory_limit=args.memory_limit,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        lap("cluster")
        batch = dd.read_parquet(incoming / "batch-1-drift", categories=list(CATEGORICAL))
        reference = dd.read_parquet(args.project / "data" / "reference")
        rows = int(batch.shape[0].compute())
        every_row = batch[["id", "ts", TARGET]]
        failed = int(every_row["id"].nunique().compute() != rows)
        failed += int(every_row["ts"].isna().any().compute())
        failed += int((~every_row[TARGET].isin([0, 1])).any().compute())
        lap("validate")
        champion = xgb.Booster(model_file=str(args.champion))
        share = min(1.0, args.sample / rows)
        tested = reference.sample(frac=min(1.0, args.sample / SEED_ROWS), random_state=0).compute()
        current = batch.sample(frac=share, random_state=0).compute()
        for frame in (tested, current):
            frame["prediction"] = champion.predict(
                xgb.DMatrix(frame[FEATURES], enable_categorical=True)
            )
        drift_tests(tested, current)
        scores = dxgb.inplace_predict(client, champion, batch[FEATURES])
        roc_auc_score(batch[TARGET].compute(), scores.compute())
        lap("monitor")
        if args.mode == "retrain":
            seconds |= bare_retrain(client, batch)
        seconds["failed_checks"] = failed
    print(json.dumps(seconds))


def bare_retrain(client: Any, batch: Any) -> dict[str, float]:
    """fit_model's time split and an xgboost.dask fit on `batch`; stage seconds and the AUC."""
    import xgboost as xgb  # noqa: PLC0415 - the driver stays small
    import xgboost.dask as dxgb  # noqa: PLC0415
    from bare import (  # noqa: PLC0415
        BOOSTER_PARAMS,
        EARLY_STOPPING,
        EARLY_STOPPING_ROUNDS,
        HOLDOUT,
        ROUNDS,
    )
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    began = time.perf_counter()
    seconds: dict[str, float] = {}
    # The newest rows held out, as fit_model does. The early-stopping slice is a random share
    # of the training rows, not the newest: the newest would sit in the last partitions, on one
    # worker, and xgboost.dask refuses a worker without rows when features are categorical
    # (driftloop cuts its slice across workers; the cost is the same).
    times = batch["ts"].astype("int64")
    cut = times.quantile(1 - HOLDOUT).compute()
    train, holdout = batch[times < cut], batch[times >= cut]
    fit_part, stop_part = train.random_split([1 - EARLY_STOPPING, EARLY_STOPPING], random_state=0)
    # xgboost.dask trains each worker on the partitions it holds: at least two per worker, or a
    # batch of fewer partitions than workers leaves one without rows (its allreduce fails).
    workers = len(client.scheduler_info()["workers"])
    fit_part = fit_part.repartition(npartitions=max(fit_part.npartitions, 2 * workers))
    stop_part = stop_part.repartition(npartitions=max(stop_part.npartitions, 2 * workers))
    fit_part, stop_part = client.persist([fit_part, stop_part])
    client.rebalance()
    fit = dxgb.DaskQuantileDMatrix(
        client, fit_part[FEATURES], fit_part[TARGET], enable_categorical=True
    )
    stop = dxgb.DaskQuantileDMatrix(
        client, stop_part[FEATURES], stop_part[TARGET], enable_categorical=True, ref=fit
    )
    params = {k: v for k, v in BOOSTER_PARAMS.items() if k != "nthread"}
    trained = dxgb.train(
        client,
        params,
        fit,
        num_boost_round=ROUNDS,
        evals=[(stop, "stop")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        verbose_eval=False,
    )
    seconds["train"] = round(time.perf_counter() - began, 3)
    held = holdout[[*FEATURES, TARGET]].compute()
    predicted = trained["booster"].predict(xgb.DMatrix(held[FEATURES], enable_categorical=True))
    seconds["holdout_auc"] = round(float(roc_auc_score(held[TARGET], predicted)), 4)
    seconds["rounds"] = int(trained["booster"].best_iteration) + 1
    seconds["evaluate"] = round(time.perf_counter() - began - seconds["train"], 3)
    return seconds


def main() -> None:
    """Run every size (or a child's part: `write`, `bare`), write the CSV."""
    if len(sys.argv) > 1 and sys.argv[1] == "write":
        write_project(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "bare":
        child = argparse.ArgumentParser()
        child.add_argument("cmd")
        child.add_argument("mode", choices=["monitor", "retrain"])
        child.add_argument("project", type=Path)
        child.add_argument("champion", type=Path)
        child.add_argument("--workers", type=int, required=True)
        child.add_argument("--memory-limit", required=True)
        child.add_argument("--sample", type=int, required=True)
        bare(child.parse_args())
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=["local", "dask"])
    parser.add_argument("--local-max-rows", type=int, default=1_000_000)
    parser.add_argument("--part-rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--memory-limit", default="1.25GiB")
    parser.add_argument(
        "--bare-memory-limit",
        help="the bare runs' worker limit (default --memory-limit; plain xgboost.dask code "
        "needs more than driftloop at 10M rows)",
    )
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=HERE / "scale-results.csv")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    args = parser.parse_args()
    bench = Bench(Path(tempfile.mkdtemp(prefix="driftloop-scale-")))
    results: list[dict[str, Any]] = []
    with prefect_server(bench.home, bench.base) as api:
        bench.served["PREFECT_API_URL"] = api
        for rows in args.rows:
            size(bench, rows, args, results)
            if not args.keep:
                for project in bench.work.glob(f"rows-{rows}-*"):
                    shutil.rmtree(project)
    # The sizes measured now replace their earlier rows; other sizes' rows are kept.
    kept = []
    if args.out.exists():
        with args.out.open(newline="") as handle:
            kept = [r for r in csv.DictReader(handle) if int(r["rows"]) not in args.rows]
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(sorted([*kept, *results], key=lambda r: int(r["rows"])))
    print(f"wrote {args.out}; work dir {bench.work}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
