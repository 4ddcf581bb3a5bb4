# One image for every polaretl process: worker, beat, the ops app, one-off runs.
# Installs exactly what uv.lock holds (the same versions `make test` ran against).
FROM python:3.11-slim
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_PROJECT_ENVIRONMENT=/opt/polaretl UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY polaretl ./polaretl
RUN uv sync --locked --no-editable --no-cache
ENV PATH=/opt/polaretl/bin:$PATH
# The workspace (connectors/, contracts/, data/) is mounted at /workspace at run time.
WORKDIR /workspace
ENV POLARETL_PROJECT=/workspace
