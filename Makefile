# `make test` and `make demo` each build .venv from scratch when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-browser test-spark demo bench fetch clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.3"
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev,minilm,image,dask]"
	touch $(STAMP)

fetch: $(STAMP)
	$(PY) examples/fetch.py youtube sms census ecg

test: $(STAMP) fetch
	$(PY) -m pytest -q

# The report's browser tests (tests marked browser) also run in `make test` when chromium is there.
test-browser: $(STAMP)
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)
	$(PY) -m pytest -q -m browser

# The Spark recipe inside Spark (pyspark is ~450 MB and needs Java 17+): not part of `make test`,
# which skips it when pyspark is not installed.
test-spark: $(STAMP) fetch
	which java || (apt-get update && apt-get install -y openjdk-17-jre-headless)
	$(PY) -m pip install --quiet -c requirements.lock -e ".[spark]"
	$(PY) -m pytest -q tests/test_labeler_batches.py -k spark

demo: $(STAMP) fetch
	$(PY) examples/demo.py youtube

bench: $(STAMP)
	$(PY) examples/fetch.py
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info
