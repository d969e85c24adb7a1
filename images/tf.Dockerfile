# TensorFlow image, CPU (dataset, evaluate; train where there is no GPU): the Beam image plus
# TensorFlow (CPU), scikit-learn and matplotlib.
#   docker build -f images/tf.Dockerfile --build-arg FROM_IMAGE=retrain-beam -t retrain-tf .
ARG FROM_IMAGE=retrain-beam
FROM ${FROM_IMAGE}
USER root
COPY requirements/tf.lock /tmp/
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes -r /tmp/tf.lock \
 && rm /tmp/tf.lock
USER 10001:10001
