# One entry point for people and CI. Everything runs from a virtualenv that `make` creates.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint checkov serve sam-build bench clean lock soak docs

$(STAMP): requirements/dev.lock pyproject.toml clients/python/pyproject.toml package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e ./clients/python
	@# dynalite, the DynamoDB server of the concurrency suite and the benchmarks (skipped without node)
	if command -v npm >/dev/null; then npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; fi
	touch $(STAMP)

install: $(STAMP)

# Two workers: the machines have two cores.
PYTEST_ARGS ?= -n 2
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

# The randomized workload and its history checker on many seeds, faults on (docs/reliability.md):
# SOAK_MINUTES (default 30), SOAK_SEED=<n> replays one seed, SOAK_FIRST_SEED sets where to start.
soak: $(STAMP)
	$(BIN)/python -m tests.history.soak

# docs/api.md's route reference, from the OpenAPI document (a test fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -m taskq_local.apidoc docs/api.md

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml

# The real handlers on an embedded DynamoDB, in the foreground (HOST, PORT, TASKQ_ADMIN_KEY,
# DYNAMODB_ENDPOINT are read from the environment).
serve: $(STAMP)
	$(BIN)/taskq serve

# `sam build` with the pinned SAM CLI in its own virtualenv (its dependencies clash with ours);
# the functions' runtime is python3.13, which sam must find on PATH (pyenv on these machines).
SAM_VENV ?= $(VENV)/sam-cli
$(SAM_VENV)/.installed: requirements/sam.lock
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/sam.lock
	touch $@

sam-build: $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 PYENV_VERSION=$${PYENV_VERSION:-3.13.0:3.11.7} $(SAM_VENV)/bin/sam build

# checkov (static security checks of template.yaml) in its own virtualenv, pinned; the checks it
# skips are listed with their reasons in .checkov.yaml and docs/security.md.
CHECKOV_VENV ?= $(VENV)/checkov
$(CHECKOV_VENV)/.installed: requirements/checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/checkov.lock
	touch $@

checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --config-file .checkov.yaml

# Re-pin every dependency (direct and transitive) after editing requirements/*.txt: each
# requirements/NAME.txt is resolved in a throwaway virtualenv and frozen into NAME.lock.
lock:
	for name in dev ci sam checkov; do \
	  rm -rf /tmp/taskq-lock-venv && $(PYTHON) -m venv /tmp/taskq-lock-venv && \
	  /tmp/taskq-lock-venv/bin/pip install --quiet -r requirements/$$name.txt && \
	  /tmp/taskq-lock-venv/bin/pip freeze --exclude-editable | grep -v '^taskq' > requirements/$$name.lock \
	  || exit 1; \
	done
	rm -rf /tmp/taskq-lock-venv

# Cost, depth scaling, contention (beside a naive baseline), cold start, handler overhead, online
# tasks and the client library's worker: a table on stdout and bench/results/latest.json (see
# docs/performance.md). Not part of `test`.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache
