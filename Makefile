# callguard — the one entry point. Every target installs what it needs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NODE_BIN := $(CURDIR)/node_modules/.bin
# jsii (the CDK's bridge to Node.js) runs on the pinned Node.js from package.json,
# not on whatever node is on PATH (Node 20 is end-of-life for jsii).
export JSII_NODE := $(NODE_BIN)/node
export PATH := $(NODE_BIN):$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
CDK := $(NODE_BIN)/cdk
CDK_FLAGS := --no-notices
# extra arguments for every cdk command, e.g. CDK_ARGS="-c callguard='{\"removal\": \"destroy\"}'"
CDK_ARGS ?=

# Debian's chromium + chromium-driver for the console's browser tests (tests/e2e/test_console.py):
# installed from the distribution's packages when missing and running as root (as in CI); never
# downloaded by a test at run time
BROWSER_PACKAGES := chromium chromium-driver

.PHONY: help setup browser cli test audit lint synth local-synth bootstrap deploy diff clean demo local token purge offboard anchor import ropa openapi fuzz bench smoke

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt layers/deps/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

CHECKOV := .tools/checkov/bin/checkov
.tools/checkov/.installed: requirements-checkov.txt
	@test -x .tools/checkov/bin/python || $(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@# npm ci deletes node_modules first: through a symlink to a shared install (worktrees) it would
	@# empty the shared directory for every other checkout, so a linked install is only checked
	@if [ -L node_modules ] && [ -x node_modules/.bin/cdk ]; then \
		echo "node_modules links to a shared install: not reinstalling it (run npm ci where it lives)"; \
	else npm ci --no-audit --no-fund --loglevel=error; fi
	@$(NODE_BIN)/node --version >/dev/null
	@touch $@

setup: $(VENV)/.installed node_modules/.installed .tools/checkov/.installed cli browser ## virtualenv, pinned packages, pinned Node.js + CDK CLI, checkov, editable installs (the `callguard` command, the domain package), Chromium

browser: ## Debian's chromium and chromium-driver for the browser tests (apt-get as root when missing)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(BROWSER_PACKAGES) (Debian packages) for the console's browser tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(BROWSER_PACKAGES) >/dev/null \
		|| { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		     --no-install-recommends $(BROWSER_PACKAGES) >/dev/null; }; \
	else echo "chromium/chromedriver missing: run 'sudo apt-get install $(BROWSER_PACKAGES)' (the browser tests need them)" >&2; fi

# Editable installs of this checkout (no dependencies: they are the pinned requirements), so the venv
# imports this checkout's code without any sys.path edit: the root project (the `callguard` command,
# infra, local) and the domain package `callguard` of the common layer (layers/common/pyproject.toml).
# Reinstalled when a project file changed, or when either install is missing or points at another
# checkout (a venv shared between checkouts); otherwise `make setup` only checks.
EDITABLE := callguard=file://$(CURDIR) callguard-domain=file://$(CURDIR)/layers/common
PIP_EDITABLE := $(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . -e layers/common
$(VENV)/.editable: pyproject.toml layers/common/pyproject.toml $(VENV)/.installed
	$(PIP_EDITABLE)
	@touch $@

cli: $(VENV)/.editable
	@$(PY) -c 'import importlib.metadata as m, json, sys; sys.exit(any(json.loads(m.distribution(n).read_text("direct_url.json") or "{}").get("url") != url for n, url in (a.split("=", 1) for a in sys.argv[1:])))' $(EDITABLE) 2>/dev/null \
	  || $(PIP_EDITABLE)

lint: setup ## ruff (with mccabe) and mypy
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

test: setup ## the whole test suite (what .ci/run calls): ruff, mypy, bandit, pytest
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m bandit -q -c pyproject.toml -r functions layers/common/python local infra callguard_cli bench
	$(PY) -m pytest

audit: setup ## pip-audit of every pinned package (needs PyPI's JSON API with vulnerability data)
	$(PY) -m pip_audit -r constraints.txt --no-deps --disable-pip --strict --progress-spinner off

synth: setup ## cdk synth into cdk.out/, offline, compliance rule packs enforced (CDK_ARGS passed on)
	$(CDK) synth $(CDK_FLAGS) --quiet -o cdk.out $(CDK_ARGS)

bootstrap: setup ## cdk bootstrap of the target account/region, once (needs AWS credentials; CDK_ARGS passed on)
	$(CDK) bootstrap $(CDK_FLAGS) $(CDK_ARGS)

deploy: setup ## cdk deploy (needs AWS credentials; CDK_ARGS passed on)
	$(CDK) deploy $(CDK_FLAGS) --require-approval broadening $(CDK_ARGS)

diff: setup ## cdk diff (needs AWS credentials; CDK_ARGS passed on)
	$(CDK) diff $(CDK_FLAGS) $(CDK_ARGS)

smoke: setup ## after a deploy: API_URL=… TOKEN=… [AGENT_TOKEN COMPLIANCE_TOKEN APPROVER_TOKEN ALARM] ingest, agent view, routing, a privacy request, an alarm
	@# the variables reach the script through the environment (make exports command-line variables),
	@# so tokens never appear in a command line
	@$(PY) -m callguard_cli.smoke

# `make local` and `make demo` serve two tenants, `default` and `acme-energie` (the contract), so isolation
# can be tried locally: cdk.json's config plus docs/tenants.example.json's tenants when cdk.json lists none,
# synthesized into their own directory; cdk.out (what `make synth`/`make deploy` build) is not touched
LOCAL_CDK_OUT := .local/cdk.out
local-synth: setup ## synthesize what `make local`/`make demo` serve into .local/cdk.out: cdk.json + the example tenants
	$(CDK) synth $(CDK_FLAGS) --quiet -o $(LOCAL_CDK_OUT) -c "callguard=$$($(PY) -m local local-config)" $(CDK_ARGS)

local: local-synth ## the embedded stack (tenants default + acme-energie) in the foreground until Ctrl-C (CALLGUARD_API_PORT, CALLGUARD_AWS_PORT)
	$(PY) -m local serve --cdk-out $(LOCAL_CDK_OUT)

demo: local-synth ## start the embedded stack (two tenants), walk through it (handler logs: .local/logs/demo.log), stop
	$(PY) -m local demo --cdk-out $(LOCAL_CDK_OUT)

# USER counts only when given on the command line (the shell's own USER is not a person of the stack)
USER_NAME = $(if $(filter command line,$(origin USER)),$(USER),)

token: setup ## print only a bearer token for ROLE=platform|agent|compliance [USER=<name>: a distinct person] [TENANT=<id>] (stack must be running)
	@$(PY) -m local token --role "$(ROLE)" --user "$(USER_NAME)" --tenant "$(TENANT)"

purge: setup ## run the retention purge of the running local stack as of AS_OF=<ISO-8601>; prints only the JSON report
	@$(PY) -m local purge --as-of "$(AS_OF)"

offboard: setup ## offboard TENANT=<id> on the running local stack (shred keys, delete, verify); prints only the certificate JSON
	@test -n "$(TENANT)" || { echo "make offboard needs TENANT=<id> (a listed tenant, never default)" >&2; exit 2; }
	@$(PY) -m callguard_cli tenants offboard "$(TENANT)"

anchor: setup ## sign the audit log of the running local stack now (close past days, checkpoint today); JSON only
	@$(PY) -m local anchor

import: setup ## drop FILE=<path> [FORMAT=contact-lens|transcribe] [TENANT=<id>] into the running local stack's import path (TENANT's upload prefix); prints only the call id(s)
	@$(PY) -m local import $(FILE) $(if $(FORMAT),--format "$(FORMAT)") $(if $(TENANT),--tenant "$(TENANT)")

ropa: setup ## regenerate docs/records-of-processing.md and docs/privacy-notice-snippets.md from the config
	@$(PY) -m infra.ropa

openapi: setup ## regenerate docs/openapi.yaml (OpenAPI 3.1) and docs/api.md from the routes, models and answers in the code
	@$(PY) -m infra.openapi

fuzz: setup ## schemathesis against the embedded stack with more examples (CALLGUARD_FUZZ_EXAMPLES, default 300)
	CALLGUARD_FUZZ_EXAMPLES=$${CALLGUARD_FUZZ_EXAMPLES:-300} $(PY) -m pytest -p no:cacheprovider tests/e2e/test_fuzz.py

bench: synth ## the issue-17 goals beside this run's measures, then each section (PII, Comprehend units, cold starts, AWS calls per call, throughput, purge/erasure reads, asset sizes)
	$(PY) -m bench.run

clean: ## remove build output (keeps the virtualenv and node_modules)
	rm -rf cdk.out .build .pytest_cache .mypy_cache .ruff_cache
