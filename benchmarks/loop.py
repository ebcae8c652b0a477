"""Benchmark: what each stage and the whole loop cost at 10k, 100k and 1M rows x 20 features.

For each size it writes a synthetic project (reference, a clean batch, a drift batch), trains a
first champion on the clean batch, then times, each in a new process:

- `driftloop monitor` on the drift batch, with a Prefect server running (and, at the size given by
  `--one-shot-rows`, once more without one: Prefect's temporary server starts inside the run);
- `driftloop run --force-retrain` on the drift batch (the full loop, tuning off so that both sides
  train the same single model; the tuning budget is a separate, user-set wall-clock budget);
- the bare baseline (`bare.py`): the same checks, tests and training with numpy/scipy/xgboost.

Also times Prefect's own trivial flow, with and without a server. Wall time, CPU time and peak
RSS come from the child's rusage; stage times from the run's decision record. Results go to
`benchmarks/loop-results.csv`. Run by hand from the repository root:

    OMP_WAIT_POLICY=PASSIVE uv run python benchmarks/loop.py [--rows 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synthetic import project_paths

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
TRIVIAL_FLOW = "from prefect import flow\n\n@flow\ndef trivial():\n    return 1\n\ntrivial()\n"
STAGES = re.compile(r"Stage wall times: (.*)\.")
SAMPLE_ROWS = "from config.settings import Settings; print(Settings().drift.sample_rows)"
FIELDS = ["rows", "run", "server", "wall_s", "cpu_s", "peak_rss_mb", "stages", "outcome"]


def run_child(command: list[str], *, env: dict[str, str], cwd: Path) -> dict[str, object]:
    """Run `command` to the end: wall and CPU seconds, peak RSS (MiB), last output line."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert child.stdout is not None
    output = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{output[-4000:]}")
    lines = output.strip().splitlines()
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "outcome": lines[-1][:120] if lines else "",
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def prefect_server(home: Path, env: dict[str, str]) -> Iterator[str]:
    """A `prefect server` on 127.0.0.1 for the duration; yields its API URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError as exc:
                if server.poll() is not None or time.monotonic() > deadline:
                    log_file = home / "server.log"
                    raise SystemExit(f"prefect server did not start; see {log_file}") from exc
                time.sleep(1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def stages_of(root: Path) -> str:
    """Stage wall times from the newest decision record under `root`."""
    records = sorted((root / "reports").glob("decision-*.md"), key=lambda p: p.stat().st_mtime)
    found = STAGES.search(records[-1].read_text()) if records else None
    return found.group(1).replace(" s", "").replace(", ", "; ") if found else ""


class Bench:
    """The runs of one benchmark session: their environment and their results."""

    def __init__(self, work: Path) -> None:  # noqa: D107 - the class docstring says it
        self.work = work
        self.home = work / "prefect-home"
        self.home.mkdir()
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIFTLOOP_"))
        }
        self.base = inherited | {
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        }
        self.served = dict(self.base)
        self.rows: list[dict[str, object]] = []

    def record(self, rows: int, run: str, result: dict[str, object], **extra: object) -> None:
        """Keep one result row and print it."""
        row = {"rows": rows, "run": run, **result, **extra}
        self.rows.append(row)
        print(", ".join(f"{k}={row.get(k, '')}" for k in FIELDS), flush=True)

    def startup(self, *, server: bool) -> None:
        """Prefect's own trivial flow (on the server, or on a temporary one) and `--help`."""
        script = self.work / "trivial.py"
        script.write_text(TRIVIAL_FLOW)
        env = self.served if server else self.base
        result = run_child([sys.executable, str(script)], env=env, cwd=self.work)
        self.record(0, "prefect trivial flow", result, server="yes" if server else "no")
        if not server:
            help_run = run_child([str(VENV_BIN / "driftloop"), "--help"], env=env, cwd=self.work)
            self.record(0, "driftloop --help", help_run, server="no")

    def size(self, rows: int, *, sample: str, one_shot: bool) -> None:
        """The monitoring and retraining runs, and the bare baseline, at one size."""
        root = self.work / f"rows-{rows}"
        write = [sys.executable, str(HERE / "synthetic.py"), str(root), str(rows)]
        subprocess.run(write, check=True)
        paths = project_paths(root)
        settings = {
            "DRIFTLOOP_PATHS__SPEC": str(paths["spec"]),
            "DRIFTLOOP_MLFLOW__TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "DRIFTLOOP_TRAINING__WINDOW_BATCHES": "1",
            "DRIFTLOOP_TRAINING__TUNING_TRIALS": "0",
        }
        driftloop = str(VENV_BIN / "driftloop")

        def flow(run: str, *args: str, server: bool = True) -> None:
            env = (self.served if server else self.base) | settings
            result = run_child([driftloop, *args], env=env, cwd=root)
            self.record(rows, run, result, server="yes" if server else "no", stages=stages_of(root))

        flow("first model (no champion)", "run", "--batch", str(paths["seed"]))
        champion = next((root / "mlartifacts").rglob("model.ubj"))
        if one_shot:
            flow("monitor", "monitor", "--batch", str(paths["drift"]), server=False)
            forget_monitoring(root / "data" / "ledger.jsonl")
        flow("monitor", "monitor", "--batch", str(paths["drift"]))
        flow("retrain", "run", "--batch", str(paths["drift"]), "--force-retrain")
        for mode in ("monitor", "retrain"):
            bare = [sys.executable, str(HERE / "bare.py"), mode, "--project", str(root)]
            result = run_child(
                [*bare, "--sample", sample, "--champion", str(champion)], env=self.base, cwd=root
            )
            self.record(
                rows,
                f"bare {mode}",
                result | {"outcome": ""},
                server="no",
                stages=str(result["outcome"]),
            )


def forget_monitoring(ledger: Path) -> None:
    """Drop the ledger's "monitored" entries, so the next monitoring run takes the batch again."""
    kept = [line for line in ledger.read_text().splitlines(True) if '"monitored"' not in line]
    ledger.write_text("".join(kept))


def main() -> None:
    """Run every size, write the CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--one-shot-rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=HERE / "loop-results.csv")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    args = parser.parse_args()
    # Everything heavy happens in children: a forked child starts with its parent's peak RSS.
    sample = subprocess.run(
        [sys.executable, "-c", SAMPLE_ROWS], capture_output=True, text=True, check=True
    ).stdout.strip()
    bench = Bench(Path(tempfile.mkdtemp(prefix="driftloop-bench-")))
    bench.startup(server=False)
    with prefect_server(bench.home, bench.base) as api:
        bench.served["PREFECT_API_URL"] = api
        bench.startup(server=True)
        for rows in args.rows:
            bench.size(rows, sample=sample, one_shot=rows == args.one_shot_rows)
            if not args.keep:
                shutil.rmtree(bench.work / f"rows-{rows}")
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(bench.rows)
    print(f"wrote {args.out}; work dir {bench.work}")


if __name__ == "__main__":
    main()
