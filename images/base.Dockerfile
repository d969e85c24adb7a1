# Core runtime of the image family: Python, the project's code and its light dependencies from a
# hashed lock file, a non-root user, no compilers. Every other image starts FROM this one.
#   docker build -f images/base.Dockerfile -t retrain-base .
# BASE_IMAGE: by default the official slim Python image, pinned by digest (the digest as pinned in
# public Dockerfiles; not pulled here, where Docker Hub is out of reach). Without a registry,
# scripts/make_base_image.sh makes a Debian bookworm base from Debian's packages instead, and
# scripts/build_images.sh passes it. Either base has python3 at /usr/bin or /usr/local/bin; the
# venv made in the build stage is copied to the same path of the same base.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91
FROM ${BASE_IMAGE} AS build
COPY requirements/base.lock /tmp/base.lock
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
      -r /tmp/base.lock

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
RUN groupadd --gid 10001 pipeline \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin pipeline
# The code is read from /app (the working directory) rather than installed: `python -m
# components.<name>` resolves there, and the relative `config/...` paths the pipelines pass
# resolve to the configs shipped beside it.
COPY config/ /app/config/
COPY components/ /app/components/
# HOME=/tmp: on clusters the root filesystem is read-only and /tmp an emptyDir.
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONPATH=/app PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp LANG=C.UTF-8
WORKDIR /app
USER 10001:10001
ENTRYPOINT []
CMD ["python"]
