# Keywatch: the two commands (contract §1) and a few more.
.PHONY: demo test bootstrap faults lint bench clean-services

bootstrap:
	keywatch/bootstrap.sh

demo: bootstrap
	.venv/bin/keywatch demo

test:
	keywatch/bootstrap.sh --browser
	.venv/bin/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

faults: bootstrap
	.venv/bin/python -m pytest -q -m slow tests/faults tests/alerts/test_receiver_faults.py $(PYTEST_ARGS)

lint: bootstrap
	.venv/bin/ruff check keywatch ingest geo rules alerts dashboard registry tests bench

clean-services:
	-.venv/bin/keywatch services down
	rm -rf .keywatch
