# 12348 智能法律服务助手 — `make run` and `make test` bootstrap everything they need.
SHELL := /bin/bash
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PYTHONHASHSEED := 0

VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
SPACY_MODEL := var/spacy/zh_xinyang_v1
MODEL := models/xinyang.tar.gz
# What the model is trained from; data/knowledge and data/laws are read at run time.
TRAINING_INPUTS := config.yml domain.yml $(wildcard data/*.yml) $(shell find data/nlu data/dict bot/nlu -type f -not -name '*.pyc' 2>/dev/null)

.PHONY: help install train run test lint check-data validate pytest stories bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/' | expand -t 14

$(VENV)/.installed: pyproject.toml constraints.txt scripts/bootstrap.sh
	@bash scripts/bootstrap.sh

install: $(VENV)/.installed  ## create .venv with the pinned dependencies

$(SPACY_MODEL)/meta.json: $(VENV)/.installed data/knowledge/entity_patterns.yml data/knowledge/centres.yml bot/nlu/spacy_rules.py
	$(PY) -m bot.nlu.spacy_rules $(SPACY_MODEL)

$(MODEL): $(VENV)/.installed $(SPACY_MODEL)/meta.json $(TRAINING_INPUTS)
	@mkdir -p var; started=$$(date +%s); \
	$(RASA) train --fixed-model-name xinyang --out models --quiet && \
	echo $$(( $$(date +%s) - started )) > var/train_seconds  # read by `make bench`
	@touch $(MODEL)

train: $(MODEL)  ## train the model when data, config or dictionaries changed

run: $(MODEL)  ## start everything; prints the chat page and console addresses (Ctrl-C stops)
	$(PY) -m bot serve

lint: $(VENV)/.installed  ## ruff
	$(VENV)/bin/ruff check bot actions tests scripts
	$(VENV)/bin/ruff format --check bot actions tests scripts

check-data: $(VENV)/.installed  ## NLU alignment/duplicates and every citation
	$(PY) scripts/check_nlu.py data/nlu tests/nlu
	$(PY) scripts/check_citations.py domain.yml data/knowledge/*.yml data/nlu/*.yml

validate: $(VENV)/.installed $(SPACY_MODEL)/meta.json  ## rasa data validate
	$(RASA) data validate --fail-on-warnings --quiet

pytest: $(MODEL)  ## unit, action, CLI, web and held-out NLU tests
	$(VENV)/bin/pytest -q

stories: $(MODEL)  ## Rasa test stories
	$(RASA) test core --stories tests/ --model $(MODEL) --fail-on-prediction-errors --out results --quiet

test: lint check-data validate pytest stories  ## everything CI runs

bench: $(MODEL)  ## load benchmark: latency, throughput, memory, floor model, 2 servers -> docs/benchmarks.md
	$(PY) scripts/bench.py

clean:  ## remove trained models and local data (keeps .venv)
	rm -rf models/*.tar.gz var results
