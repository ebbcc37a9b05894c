# The two commands a new clone needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install lint format check clean eval bench faults

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# torch first: the CPU build on disk; a bare requirement would pull a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@command -v tesseract >/dev/null 2>&1 || echo "Tesseract is not installed: Pyq reads scans with RapidOCR. For Tesseract: sudo apt-get install tesseract-ocr"
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py pyq_demo
	$(PY) manage.py pyq_run

test: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run
	@# pytest exits 5 when a selection (PYTEST_ARGS) collects no test: say so, do not fail.
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected for '$(PYTEST_ARGS)'"; exit 0; fi; \
	exit $$rc

eval: $(STAMP)
	$(PY) bench/eval_fields.py --ocr both
	$(PY) bench/eval_classify.py

bench: $(STAMP)
	$(PY) bench/pipeline.py
	$(PY) bench/ocr.py --engine rapidocr
	$(PY) bench/ocr.py --engine tesseract
	$(PY) bench/latency.py
	$(PY) bench/report.py

# The fault proof (issue 10): workers killed and Redis stopped while documents run, on
# PostgreSQL (DATABASE_URL, default the local server) and a Redis of its own. CI runs
# FAULTS_ARGS="--docs 100 --kills 5 --max-seconds 300".
faults: $(STAMP)
	$(PY) bench/faults.py $(FAULTS_ARGS)

# mypy holds these to their types; automations/runs joins once it exists (issue 9's move).
MYPY_TARGETS := automations/engine automations/steps catalog/runtime $(wildcard automations/runs)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy $(MYPY_TARGETS)

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var .pytest_cache test-output
