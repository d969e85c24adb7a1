# Beam image (ingest, preprocess, deploy): the core runtime plus Apache Beam [gcp].
#   docker build -f images/beam.Dockerfile --build-arg FROM_IMAGE=retrain-base -t retrain-beam .
ARG FROM_IMAGE=retrain-base
FROM ${FROM_IMAGE}
USER root
COPY requirements/ /tmp/requirements/
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements/beam.lock \
 && rm -rf /tmp/requirements
USER 10001:10001
