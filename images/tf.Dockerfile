# TensorFlow image (dataset, evaluate; train on CPU): the Beam image plus TensorFlow (CPU),
# scikit-learn and matplotlib.
#   docker build -f images/tf.Dockerfile --build-arg FROM_IMAGE=retrain-beam -t retrain-tf .
ARG FROM_IMAGE=retrain-beam
FROM ${FROM_IMAGE}
USER root
COPY requirements/ /tmp/requirements/
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements/tf.lock \
 && rm -rf /tmp/requirements
USER 10001:10001
