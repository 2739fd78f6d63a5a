# edu-mlm: `make run` runs the whole pipeline on the sample, `make test` runs the tests.
# Both set up .venv first when it is missing or when the pinned dependencies changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.DEFAULT_GOAL := help
.PHONY: help install generate run test test-fast test-images bench bench-gpu bench-downstream lint clean compile submit rerun images run-containers serve

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) ## create .venv and install the pinned dependencies (only what changed)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) (first time: a few minutes)"
	$(PIP) --upgrade pip
	# torch first and pinned exactly: the CPU wheel on disk, never a CUDA resolve.
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	@touch $@

generate: | $(STAMP) ## write the KFP components (components/kfp/generated/) from the stages' specs; commit them (make test fails while they are stale)
	$(PY) -m components.kfp.generate

build/sample.db: scripts/make_sample_db.py data/sample/corpus.txt | $(STAMP)
	$(PY) scripts/make_sample_db.py --corpus data/sample/corpus.txt --output $@

run: build/sample.db | $(STAMP) ## run the whole pipeline here (kfp.local) on the sample; ARGS="--param k=v"
	$(PY) pipeline.py run-local $(ARGS)

compile: | $(STAMP) ## write pipeline.yaml for a KFP cluster (images from REGISTRY=… [TAG=…], or DIGESTS=build/image-digests.json)
	$(PY) pipeline.py compile --output pipeline.yaml $(if $(REGISTRY),--registry $(REGISTRY)) $(if $(TAG),--tag $(TAG)) $(if $(DIGESTS),--digests $(DIGESTS)) $(ARGS)

submit: | $(STAMP) ## start a run on a cluster: make submit HOST=http://… ARGS="--param base_model_uri=…"
	@test -n "$(HOST)" || { echo "error: HOST is not set; make submit HOST=http://<kfp-endpoint> ARGS='--param k=v ...'" >&2; exit 2; }
	$(PY) pipeline.py submit --host $(HOST) $(if $(REGISTRY),--registry $(REGISTRY)) $(if $(TAG),--tag $(TAG)) $(if $(DIGESTS),--digests $(DIGESTS)) $(ARGS)

rerun: | $(STAMP) ## rerun a step (and the steps after it) of a local run: make rerun STEP=train [FROM=runs/local/edu-mlm-…] ARGS="--param k=v"
	@test -n "$(STEP)" || { echo "error: STEP is not set; make rerun STEP=train [FROM=RUN_DIR] ARGS='--param k=v'" >&2; exit 2; }
	$(PY) pipeline.py rerun $(STEP) --from $(or $(FROM),latest) $(ARGS)

images: | $(STAMP) ## build the 4 stage images and the model server REGISTRY/edu-mlm-<image>:TAG (TAG: the git commit; docker or podman); PUSH=1 pushes and writes build/image-digests.json
	$(PY) scripts/build_images.py $(if $(REGISTRY),--registry $(REGISTRY)) $(if $(TAG),--tag $(TAG)) \
		$(if $(filter 1,$(PUSH)),--push) $(if $(filter 1,$(CPU)),--cpu) \
		$(if $(TORCH_WHEELS),--torch_wheels $(TORCH_WHEELS)) $(if $(CA_BUNDLE),--ca_bundle $(CA_BUNDLE))

run-containers: build/sample.db | $(STAMP) ## make run with each step in its own image (CPU builds; podman set up if needed)
	$(PY) scripts/run_containers.py $(if $(TORCH_WHEELS),--torch_wheels $(TORCH_WHEELS)) \
		$(if $(CA_BUNDLE),--ca_bundle $(CA_BUNDLE)) $(ARGS)

# The newest `make run`'s exported model: runs/local/<run>/<task>/<output>/model.onnx.
NEWEST_EXPORT = $(patsubst %/,%,$(dir $(firstword $(shell ls -t runs/local/*/*/*/model.onnx 2>/dev/null))))

serve: | $(STAMP) ## serve an exported model with KServe (V1+V2) on port PORT (8080): MODEL=<export dir> (default: the newest make run's), ARGS="--int8 True"
	@test -n "$(or $(MODEL),$(NEWEST_EXPORT))" || { echo "error: no exported model under runs/local; pass MODEL=<the export stage's output directory> or run make run first" >&2; exit 2; }
	$(PY) -m components.serve --model_dir $(or $(MODEL),$(NEWEST_EXPORT)) --http_port $(or $(PORT),8080) $(ARGS)

# The tiers (markers in pyproject.toml): test-fast is part of test; test and test-images together
# run every test.
# Workers: one per core (pytest-xdist); a file's tests stay on one worker, so its module fixtures
# are built once; files are handed out in tests/conftest.py's order (those with slow tests first).
# TEST_WORKERS=0 runs them all in one process (for a debugger, pdb).
TEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -q --durations=20
XDIST  = -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint ## the whole suite but the image builds (lint first); CI runs it, then test-images
	$(PYTEST) -m "not images" $(XDIST)

test-fast: $(STAMP) ## the inner loop: unit and contract tests, in-process (no slow, no images)
	$(PYTEST) -m "not slow and not images" $(XDIST) -x

# No test marked images is an error (CI must build the images), said in words: pytest's exit
# code 5 alone does not say why.
test-images: $(STAMP) ## build the four stage images and the server's with podman, run the steps and the server in them (~15 min)
	$(PYTEST) -m images || { code=$$?; [ $$code -ne 5 ] || \
		echo "error: no test is marked images; tests/test_images.py builds the images" >&2; \
		exit $$code; }

bench: $(STAMP) ## run the benchmarks (each prints ratios against its baseline)
	$(PY) bench/pretraining_data.py
	$(PY) bench/train_step.py
	$(PY) bench/convert.py
	$(PY) bench/checkpoint_size.py
	$(PY) bench/extract_hive.py
	$(PY) bench/hdfs_export.py
	# TextBrewer, the baseline of bench/distill.py, without its dependencies: it would let pip
	# pick another torch (its own needs, tensorboard and tqdm, are in .venv already).
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps textbrewer==0.2.1.post1
	$(PY) bench/distill.py
	$(PY) bench/serving.py

# Its own target: fine-tuning three models per size and seed takes tens of minutes on 2 cores.
bench-downstream: $(STAMP) ## base, adapted and student fine-tuned on GAOKAO subjects (default: the newest make run's models, as stand-ins); ARGS="--base_model_dir …"
	$(PY) bench/downstream.py $(ARGS)

# With the GPU machine's own Python (PYTHON=…, its CUDA torch): .venv holds the CPU wheel.
bench-gpu: ## on a GPU machine: the distill stage bf16 with/without torch.compile; DATA= VOCAB=
	$(PYTHON) bench/distill_gpu.py --input_dir $(DATA) --vocab_file $(VOCAB)
	$(PYTHON) bench/distill.py --parts speed --device cuda --teacher_size base

lint: $(STAMP) ## ruff over the Python code, hadolint over the Dockerfiles
	$(VENV)/bin/ruff check components tests bench pipeline.py scripts
	$(VENV)/bin/hadolint images/*/Dockerfile

clean: ## remove local run outputs (keeps .venv)
	rm -rf runs/ build/ .pytest_cache
