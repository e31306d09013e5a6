# One entry point for people and CI. Everything runs from a virtualenv that `make` creates.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint serve bench clean lock

$(STAMP): requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml

# Re-pin every dependency (direct and transitive) after editing requirements/*.txt.
lock:
	$(PYTHON) -m venv /tmp/taskq-lock-venv
	/tmp/taskq-lock-venv/bin/pip install --quiet -r requirements/dev.txt
	/tmp/taskq-lock-venv/bin/pip freeze --exclude-editable | grep -v '^taskq' > requirements/dev.lock
	rm -rf /tmp/taskq-lock-venv

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache
