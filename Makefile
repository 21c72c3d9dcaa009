# The two commands: `make run` and `make test`. Everything else is their plumbing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install messages static check serve clean

run: install messages
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  The portal is at http://$(HOST):$(PORT)/  (sign in with a demo login above; Ctrl-C stops it)"
	@echo "  Reminders run in the background (a Celery worker and beat); their emails print below."
	@echo ""
	$(PY) manage.py serve $(HOST):$(PORT)

test: install messages check
	@scripts/ensure-debian-packages chromium fonts-noto-cjk
	@command -v pg_dump >/dev/null || scripts/ensure-debian-packages postgresql-client
	$(PY) -m pytest

check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) manage.py makemigrations --check --dry-run -v0

$(INSTALLED): requirements.txt
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { scripts/ensure-debian-packages python3-venv && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

# PDFs (branches/pdf.py, WeasyPrint) need Pango and the Chinese fonts they embed.
install: $(INSTALLED)
	@scripts/ensure-debian-packages libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk

# Translations are committed compiled; recompile when gettext is at hand.
messages: install
	@scripts/ensure-debian-packages gettext
	@if command -v msgfmt >/dev/null; then $(PY) manage.py compilemessages --ignore=.venv -v0; \
	 else echo "msgfmt not found: using the committed .mo files"; fi

clean:
	rm -rf $(VENV) staticfiles var db.sqlite3
