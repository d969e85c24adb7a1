# TensorFlow GPU image (train on GPU node pools): the official CUDA TensorFlow image with the
# project and the tf family's other dependencies. Same command line as every other image.
#   docker build -f images/tf-gpu.Dockerfile -t retrain-tf-gpu .
ARG GPU_BASE=tensorflow/tensorflow:2.21.0-gpu
FROM ${GPU_BASE}
COPY requirements/ /tmp/requirements/
# TensorFlow itself comes from the base image; everything else from the hashed lock.
RUN awk '/^[^ #]/ { skip = ($0 ~ /^tensorflow-cpu==/) } !skip' /tmp/requirements/tf.lock \
      > /tmp/lock.txt \
 && python3 -m pip install --no-cache-dir -r /tmp/lock.txt \
 && rm -rf /tmp/requirements /tmp/lock.txt
COPY pyproject.toml README.md /src/
COPY components/ /src/components/
COPY pipelines/ /src/pipelines/
RUN python3 -m pip install --no-cache-dir --no-deps /src && rm -rf /src
COPY config/ /app/config/
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin pipeline
ENV PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001
