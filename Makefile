# The two commands a new user needs (see README):
#   make site   set everything up and build the website into _build/html/
#   make test   set everything up and run the tests
#   make demo   grade a demo class in _build/demo_class/ and print where its report is
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: setup site test demo clean

$(STAMP): requirements.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The grading sandbox (bubblewrap, libseccomp) comes from the system's packages: checked every time.
# Every Jupyter server of the environment loads gru_ref's formgrader extension (as nbgrader's own).
setup: $(STAMP)
	bash tools/install-sandbox.sh
	install -D -m 644 gru_ref/grading/formgrader_escape.json $(VENV)/etc/jupyter/jupyter_server_config.d/gru_ref.json

# GRU_BOOK_BUILD tells chapters they run in the static build (no live widgets there).
site: setup
	GRU_BOOK_BUILD=1 $(BIN)/jupyter-book build . -W -n --keep-going

test: setup
	bash tools/install-browser.sh
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/python tools/demo_class.py

clean:
	rm -rf _build
