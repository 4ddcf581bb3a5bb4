# One image for every polaretl process: worker, beat, the ops app, one-off runs.
FROM python:3.11-slim
WORKDIR /workspace
COPY pyproject.toml README.md ./
COPY polaretl ./polaretl
RUN pip install --no-cache-dir -e .
# The workspace (connectors/, contracts/, data/) is mounted at /workspace at run time.
ENV POLARETL_PROJECT=/workspace
