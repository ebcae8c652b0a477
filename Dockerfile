# syntax=docker/dockerfile:1.7
# driftloop image, two targets on one runtime. Nothing secret or data-bearing is baked in:
# the tracking server, store credentials and data come at run time.
#
# flow (the default target) runs the retraining flow:
#   docker build -t driftloop .
#   docker run --env-file .env -v "$PWD/data:/app/data" driftloop
# (the flow reads DRIFTLOOP_* settings, e.g. DRIFTLOOP_MLFLOW__TRACKING_URI)
#
# The same image serves the production model on port 8080 with another command:
#   docker run -p 8080:8080 -e MLFLOW_TRACKING_URI=http://mlflow:5000 driftloop \
#     mlflow models serve -m models:/rainfall@production --env-manager local \
#     --host 0.0.0.0 --port 8080
#
# serve is pinned to one registered version (what .github/workflows/cd.yml builds):
#   docker build --target serve --build-arg MODEL_NAME=rainfall --build-arg MODEL_VERSION=6 \
#     -t rainfall:v6 .
#   docker run -p 8080:8080 -e MLFLOW_TRACKING_URI=http://mlflow:5000 rainfall:v6

FROM python:3.11-slim-bookworm AS builder
COPY --from=ghcr.io/astral-sh/uv:0.9.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Dependencies first, so code changes do not rebuild the dependency layer.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-install-project
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-editable

FROM python:3.11-slim-bookworm AS runtime
# /app is the user's home: Prefect's local server, reports and the SQLite registry go there.
# Fixed numeric ids, so mounted volumes and Kubernetes runAsUser can refer to them.
RUN groupadd --system --gid 10001 driftloop \
    && useradd --system --uid 10001 --gid driftloop --create-home --home-dir /app driftloop
WORKDIR /app
# Code and dependencies stay root-owned (read-only to the user); only run state is writable.
COPY --from=builder /app/.venv /app/.venv
COPY src ./src
COPY pyproject.toml dvc.yaml ./
COPY --chown=10001:10001 great_expectations ./great_expectations
COPY --chown=10001:10001 data/rainfall.yaml ./data/
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE \
    MLFLOW_DISABLE_TELEMETRY=true
USER 10001:10001

FROM runtime AS serve
ARG MODEL_NAME
ARG MODEL_VERSION
RUN test -n "$MODEL_NAME" && test -n "$MODEL_VERSION" \
    || { echo "build with --build-arg MODEL_NAME=... --build-arg MODEL_VERSION=..." >&2; exit 1; }
LABEL ai.driftloop.model="$MODEL_NAME" ai.driftloop.model-version="$MODEL_VERSION"
# MODEL_URI may be overridden at run time (e.g. models:/rainfall@production).
ENV MODEL_URI="models:/${MODEL_NAME}/${MODEL_VERSION}"
EXPOSE 8080
# A shell expands MODEL_URI; exec hands it PID 1 so it gets the stop signal.
CMD ["sh", "-c", "exec mlflow models serve --model-uri \"$MODEL_URI\" --env-manager local --host 0.0.0.0 --port 8080"]

FROM runtime AS flow
CMD ["python", "src/pipeline/flows.py"]
