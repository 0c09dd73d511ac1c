# im2im: `make tutorials` runs every tutorial; `make test` runs the tests. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
TORCH_VERSION ?= 2.13.0
LEVEL ?= default
OUT ?= build/tutorials
RECORD ?=
STAMP := $(VENV)/.im2im-installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
# pip prints one warning per package for unreachable local index folders on some machines
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location" || true; }

.PHONY: venv tutorials book book-smoke test test-fallback lint benchmark clean app

venv: $(STAMP)

# Re-installs only when pyproject.toml changes; torch is installed first, and only if missing,
# so that the package's ranges never pull another (multi-GB) torch build.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || { echo "installing torch==$(TORCH_VERSION)"; \
		$(PIP) install -q "torch==$(TORCH_VERSION)" $(QUIET_PIP); }
	@echo "installing im2im-helpers[dev] into $(VENV)"
	@$(PIP) install -q -e ".[dev]" $(QUIET_PIP)
	@$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (im2im)" >/dev/null
	@touch $(STAMP)

# Execute every tutorial with papermill at LEVEL (smoke | default | full), then build and check the
# book; fails, naming the tutorial, when a network loses to its baseline (default and full levels).
# RECORD=results/default also writes each run's record there (see results/README.md).
tutorials: $(STAMP)
	@$(PY) -m im2im_helpers.dev.tutorials --out $(OUT) --level $(LEVEL) \
		$(if $(RECORD),--record $(RECORD)) $(NOTEBOOKS)

book: tutorials

# The plain smoke-level run of every tutorial stays in build/smoke (CI builds the book from it).
test: $(STAMP)
	IM2IM_KEEP_EXECUTED=$(CURDIR)/build/smoke $(PY) -m pytest -q

# The book from the tutorials `make test` executed (smoke level), without executing them again.
book-smoke: $(STAMP)
	$(PY) -m im2im_helpers.dev.book --executed build/smoke --out build/book-smoke

# aicsimageio (bioio's predecessor) as the image backend, in its own small venv: the two
# libraries cannot share an environment.
test-fallback:
	@test -x $(VENV)-aicsimageio/bin/python || $(PYTHON) -m venv $(VENV)-aicsimageio
	@$(VENV)-aicsimageio/bin/python -c "import aicsimageio, pytest" 2>/dev/null || \
		$(VENV)-aicsimageio/bin/pip install -q aicsimageio "numcodecs<0.16" pytest $(QUIET_PIP)
	cd tests && IM2IM_EXPECT_BACKEND=aicsimageio PYTHONPATH=.. \
		../$(VENV)-aicsimageio/bin/python -m pytest -q -p no:cacheprovider --noconftest \
		--rootdir=. test_io.py

# The no-code app as a web page (Voila); in JupyterLab: `from im2im_helpers import app; app.app()`.
app: $(STAMP)
	$(VENV)/bin/voila $$($(PY) -c "import im2im_helpers.app as a; print(a.NOTEBOOK)")

lint: $(STAMP)
	$(VENV)/bin/ruff check im2im_helpers tests benchmarks

benchmark: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf build
