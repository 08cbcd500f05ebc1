# The two commands a newcomer needs: `make run` and `make test`. Both create the environment first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PKGS   := schemas libs/kit libs/text libs/sla apps/cli $(sort $(wildcard services/*))
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.9
# Kelurahan boundaries for GPS geocoding (configuration kept outside the project).
BOUNDARIES ?= $(wildcard ../shared/data/jakarta-kelurahan.geojson)

.PHONY: run test env tools lint typecheck check schemas lock bench bench-soak bench-cases eval clean

env: $(STAMP)

$(STAMP): requirements.txt $(foreach p,$(PKGS),$(p)/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python -q -r requirements.txt $(foreach p,$(PKGS),-e $(p))
	@touch $@

run: $(STAMP)
	$(BIN)/aduan stack up $(if $(BOUNDARIES),--boundaries $(BOUNDARIES))

# promtool (Debian package `prometheus`) checks and unit-tests the alert rules; docker-compose (Debian
# package, Compose 1.29) checks deploy/compose.yaml with `config`; Dovecot (Debian package
# `dovecot-imapd`) is the real IMAP server of the ingest-email tests.
tools:
	@command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing promtool (Debian package prometheus)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "promtool not found: install the Debian package 'prometheus'" >&2; exit 1; fi; }
	@command -v docker-compose >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing docker-compose (Debian package docker-compose)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; \
	  else echo "docker-compose not found: install the Debian package 'docker-compose'" >&2; exit 1; fi; }
	@test -x /usr/sbin/dovecot || command -v dovecot >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Dovecot (Debian package dovecot-imapd)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd >/dev/null; \
	  else echo "dovecot not found: install the Debian package 'dovecot-imapd'" >&2; exit 1; fi; }

test: $(STAMP) tools
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy schemas/src libs/kit/src libs/text/src libs/sla/src apps/cli/src $(foreach s,$(wildcard services/*),$(s)/src)

check: lint typecheck test

schemas: $(STAMP)
	$(BIN)/python -m aduan_schemas.export

lock: $(STAMP)
	$(BIN)/uv pip compile -q --python-version 3.11 --no-header requirements.in -o requirements.txt

# Benchmark (bench/README.md): every scenario but the soak, under 20 minutes; BENCH_ARGS adds options,
# e.g. make bench BENCH_ARGS="--only limit,sustained --reports 20000".
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(BOUNDARIES),--boundaries $(BOUNDARIES)) $(BENCH_ARGS)

# Memory over a 10-minute run at 500 reports/s.
bench-soak: $(STAMP)
	$(BIN)/python -m bench.run --only soak $(if $(BOUNDARIES),--boundaries $(BOUNDARIES)) $(BENCH_ARGS)

# The SLA sweep and case lookup up to 1 M open cases (filling 1 M takes several minutes).
bench-cases: $(STAMP)
	$(BIN)/python -m bench.run --only sweep --cases-max 1000000 $(if $(BOUNDARIES),--boundaries $(BOUNDARIES)) $(BENCH_ARGS)

# Routing and near-duplicate quality on the project's labelled reports (bench/eval/README.md).
eval: $(STAMP)
	$(BIN)/python bench/eval/routing.py $(if $(BOUNDARIES),--boundaries $(BOUNDARIES))
	$(BIN)/python -m bench.eval.duplicates $(if $(BOUNDARIES),--boundaries $(BOUNDARIES))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
