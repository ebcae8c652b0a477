# syntax=docker/dockerfile:1.7
# Build: docker build -t driftloop .   Run: docker run --env-file .env driftloop

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
RUN groupadd --system driftloop && useradd --system --gid driftloop --home-dir /app driftloop
WORKDIR /app
COPY --from=builder --chown=driftloop:driftloop /app/.venv /app/.venv
COPY --chown=driftloop:driftloop src ./src
COPY --chown=driftloop:driftloop pyproject.toml dvc.yaml ./
COPY --chown=driftloop:driftloop great_expectations ./great_expectations
COPY --chown=driftloop:driftloop data/rainfall.yaml ./data/rainfall.yaml
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
USER driftloop
CMD ["python", "src/pipeline/flows.py"]
