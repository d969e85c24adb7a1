# TensorFlow GPU image (train on GPU node pools): the official CUDA TensorFlow image, which brings
# CUDA, cuDNN and a GPU build of TensorFlow, with the tf family's other dependencies from the
# hashed lock and the same layout, user and command line as the rest of the family.
#   docker build -f images/tf-gpu.Dockerfile -t retrain-tf-gpu .
# Its base cannot be pulled where Docker Hub is out of reach (as on the project's build machine),
# so scripts/build_images.sh builds it only with --gpu; local container runs train on retrain-tf.
ARG GPU_BASE=tensorflow/tensorflow:2.21.0-gpu
FROM ${GPU_BASE}
COPY requirements/tf.lock requirements/data.lock /tmp/
# TensorFlow itself comes from the base image; everything else from the hashed lock.
RUN awk '/^[^ #]/ { skip = ($0 ~ /^tensorflow-cpu==/) } !skip' /tmp/tf.lock > /tmp/lock.txt \
 && python3 -m pip install --no-cache-dir --disable-pip-version-check --require-hashes \
      -r /tmp/lock.txt \
 && rm /tmp/tf.lock /tmp/data.lock /tmp/lock.txt \
 && groupadd --gid 10001 pipeline \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin pipeline
COPY config/ /app/config/
COPY components/ /app/components/
ENV PYTHONPATH=/app PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp LANG=C.UTF-8
WORKDIR /app
USER 10001:10001
ENTRYPOINT []
CMD ["python3"]
