# bpfcheck: `make demo` and `make test` do all the set-up on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBIAN_PACKAGES := clang-19 llvm-19 libbpf-dev graphviz
JOBS   ?= 2

.PHONY: all setup system-deps demo test test-slow corpus clean

all: test

# Debian packages: installed only when running as root and something is missing.
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "warning: missing Debian packages (run as root to install):$$missing"; fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: system-deps $(STAMP)

demo: setup
	$(VENV)/bin/bpfcheck demo

test: setup
	$(PY) -m pytest -n $(JOBS) -m "not slow"
	$(VENV)/bin/bpfcheck verify --termination --expect corpus/manifest.yaml -q --no-progress corpus/build

test-slow: setup
	$(PY) -m pytest -n $(JOBS) -m slow

corpus: setup
	$(MAKE) -C corpus

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
