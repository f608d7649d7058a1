# The two commands: `make run` opens the studio on the demo; `make test` runs every check.
# Each target creates .venv on first use and re-installs only when pyproject.toml changes.
# The newest interpreter in requires-python (3.11-3.13) that really runs (a pyenv shim for a version that is not
# active exits 127), else python3. Measured: the whole suite passes on 3.11, 3.12 and 3.13; from 3.12 on None is
# immortal, so a Qt binding that drops references to None (PySide6 6.12.0) cannot abort the studio there.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' >/dev/null 2>&1 \
	&& { command -v $$p; exit; }; done; command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test test-slow test-edge edge lint demo bench package sampler-package clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/gan-prune-studio --demo

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check engine desktop_app tests bench tools packaging

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/pytest -q --durations=15

# The tests marked slow (several processes and machines, fault injection, the packaged studio's processes): CI runs
# them after `make test`.
test-slow: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/pytest -q -m slow --durations=15

# ExecuTorch, LiteRT and Core ML (issue 24): their packages pin torch and torchao, so they get their own venv
# (.venv-edge, the extra `.[edge]`), never the main one; the tests marked edge run there.
EDGE_VENV  := .venv-edge
EDGE_STAMP := $(EDGE_VENV)/.installed-stamp

$(EDGE_STAMP): pyproject.toml
	@test -x $(EDGE_VENV)/bin/python || $(PYTHON) -m venv $(EDGE_VENV)
	$(EDGE_VENV)/bin/python -m pip install --quiet -e '.[dev,edge]'
	@touch $(EDGE_STAMP)

edge: $(EDGE_STAMP)

test-edge: $(EDGE_STAMP)
	QT_QPA_PLATFORM=offscreen $(EDGE_VENV)/bin/pytest -q -m edge tests/edge --durations=10

demo: $(STAMP)
	$(BIN)/gan-prune demo --workspace demo-workspace --force

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

package: $(STAMP)
	$(BIN)/python packaging/build.py --all

sampler-package: $(STAMP)
	$(BIN)/python packaging/build.py --sampler

clean:
	rm -rf build dist demo-workspace
