# The two commands the README opens with: `make quickstart` and `make test`.
# Both create the virtualenv if needed and install pinned dependencies
# (constraints.txt pins torch==2.13.0, the CPU build; torchvision is never installed).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
EXTRAS ?= dev,mujoco,maniskill,bench,vla,tools,gui,libero,ray
STAMP := $(VENV)/.installed-$(EXTRAS)
QUICKSTART ?= configs/experiment/quickstart.yaml

SYSTEM_PKGS := chromium chromium-driver bubblewrap

.PHONY: install system-deps vulkan quickstart test lint bench-sb3 clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[$(EXTRAS)]"
	@# libero's robomimic pulls torchvision (a CUDA build that breaks transformers here): remove it.
	$(PIP) uninstall -q -y torchvision 2>/dev/null || true
	@if $(BIN)/python -c "import torchvision" 2>/dev/null; then \
	  echo "torchvision is still installed in $(VENV); it breaks transformers here: pip uninstall torchvision"; exit 1; fi
	touch $@

install: $(STAMP)

# Debian packages: Chromium + chromedriver (headless check of eval's HTML report, GUI envs) and
# bubblewrap (the code-tool sandbox). Installed with apt-get when missing and running as root;
# otherwise the tests that need them skip, saying why.
system-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v bwrap >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(SYSTEM_PKGS) with apt-get"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PKGS) >/dev/null) \
	  || echo "warning: apt-get could not install $(SYSTEM_PKGS); the tests that need them will be skipped"; \
	else echo "note: missing some of $(SYSTEM_PKGS) (apt-get install them); tests that need them will be skipped"; fi

# Software Vulkan (Mesa 25 lavapipe) for ManiSkill/SAPIEN, unpacked into the venv: no system change.
# Skipped with a note where apt-get/network is missing; the ManiSkill tests then skip, saying why.
vulkan: $(BIN)/python
	@sh scripts/install_lavapipe.sh $(VENV)/share/embodied-rl/vulkan

quickstart: install
	$(BIN)/embodied-rl train $(QUICKSTART)

test: install system-deps vulkan
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check embodied_rl envs policies tests benchmarks

bench-sb3: install
	$(BIN)/embodied-rl bench sb3

clean:
	rm -rf $(VENV) runs *.egg-info
