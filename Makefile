# The two commands the README opens with: `make quickstart` and `make test`.
# Both create the virtualenv if needed and install pinned dependencies
# (constraints.txt pins torch==2.13.0, the CPU build; torchvision is never installed).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
EXTRAS ?= dev,mujoco,bench,vla
STAMP := $(VENV)/.installed-$(EXTRAS)
QUICKSTART ?= configs/experiment/quickstart.yaml

BROWSER_PKGS := chromium chromium-driver

.PHONY: install browser quickstart test lint bench-sb3 clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	@if $(BIN)/python -c "import torchvision" 2>/dev/null; then \
	  echo "torchvision is installed in $(VENV); it breaks transformers here: pip uninstall torchvision"; exit 1; fi
	touch $@

install: $(STAMP)

# Debian's Chromium + chromedriver: the headless check of eval's HTML report (and GUI envs).
# Installed with apt-get when missing and running as root; otherwise the browser tests skip.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(BROWSER_PKGS) with apt-get"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PKGS) >/dev/null) \
	  || echo "warning: apt-get could not install $(BROWSER_PKGS); browser tests will be skipped"; \
	else echo "note: no chromium/chromedriver (apt-get install $(BROWSER_PKGS)); browser tests will be skipped"; fi

quickstart: install
	$(BIN)/embodied-rl train $(QUICKSTART)

test: install browser
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check embodied_rl envs policies tests benchmarks

bench-sb3: install
	$(BIN)/embodied-rl bench sb3

clean:
	rm -rf $(VENV) runs *.egg-info
