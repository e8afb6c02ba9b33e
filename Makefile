# Two commands: `make run` (set up, build the models once, open the app) and
# `make test` (set up, build the models once, run every test). `make test-fast` is the
# edit-test loop: no real models, no bundle build (under two minutes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast setup models lint bench bundle clean

run: setup models
	@.ci/check-qt-libs $(PY)  # Qt's X11 libraries: prints the apt-get line if missing
	$(VENV)/bin/reelvault

test: setup models
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

test-fast: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not models and not bundle"

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e . --group dev
	touch $(STAMP)

models: setup
	$(VENV)/bin/reelvault models install

lint: setup
	$(VENV)/bin/ruff check app models tests bench

bundle: setup models
	$(VENV)/bin/pyinstaller --noconfirm build.spec

bench: setup models
	$(PY) bench/index_speed.py

clean:
	rm -rf $(VENV) build dist *.egg-info
