# Core runtime: Python, the project installed from a hashed lock file, a non-root user.
# Every other image in the family starts FROM this one.
#   docker build -f images/base.Dockerfile -t retrain-base .
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE} AS build
ARG LOCK=requirements/base.lock
WORKDIR /src
COPY requirements/ requirements/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r ${LOCK}
COPY pyproject.toml README.md ./
COPY components/ components/
COPY pipelines/ pipelines/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps .

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
COPY config/ /app/config/
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin pipeline
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
ENTRYPOINT []
CMD ["python", "-m", "pipelines", "--help"]
