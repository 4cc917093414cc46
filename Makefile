# socklab — build, install, run, test and benchmark.
#
#   make install              build once, put every program on your PATH (cargo install)
#   make run-iperf SIZE=100   UDP iPerf on loopback (server + client, both reports)
#   make test                 fmt check, clippy, unit and integration tests (a short summary;
#                             the whole output in target/test.log)
#   make bench                every benchmark against its peer tool (not a test)
#   make lab                  socklab across a 3-namespace link limited to 100 Mbit/s (root)
#   make bench-lab            a1 vs iperf3 across that link at 50-200 % of the limit (root)
#   make bench-grade          socklab-check class on a generated class of 40 x 17 programs

SIZE ?= 100
CARGO ?= cargo
# Where cargo puts the release binaries: asked of cargo itself, so
# CARGO_TARGET_DIR (and a target-dir in a cargo config) is honoured.
# The scripts read it as SOCKLAB_BIN.
TARGET_DIR = $(shell $(CARGO) metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
export SOCKLAB_BIN = $(TARGET_DIR)/release

.PHONY: build install test lint run-iperf bench bench-iperf bench-ping bench-files bench-chat bench-dual clean lab bench-lab bench-grade

build:
	$(CARGO) build --release --bins

# cargo install puts the programs in $CARGO_INSTALL_ROOT/bin, else
# $CARGO_HOME/bin, else ~/.cargo/bin; it reuses the release build in the
# target directory, so nothing is compiled twice.
install:
	$(CARGO) install --path . --locked --force
	@bin="$${CARGO_INSTALL_ROOT:-$${CARGO_HOME:-$$HOME/.cargo}}/bin"; \
	echo; echo "socklab's programs are in $$bin"; \
	case ":$$PATH:" in \
	*":$$bin:"*) echo "It is on your PATH: try  a3-ping-server --help";; \
	*) echo "It is not on your PATH yet; run (and add to ~/.bashrc):"; \
	   echo "  export PATH=\"$$bin:\$$PATH\"";; \
	esac

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

test:
	CARGO="$(CARGO)" bash tests/scripts/test.sh

run-iperf: build
	bash tests/scripts/run-iperf.sh $(SIZE)

bench: bench-iperf bench-ping bench-files bench-chat bench-dual

bench-iperf: build
	bash tests/bench/iperf.sh

bench-ping: build
	bash tests/bench/ping.sh

bench-files: build
	bash tests/bench/files.sh

bench-chat: build
	bash tests/bench/chat.sh

bench-dual: build
	bash tests/bench/dual.sh

lab: build
	BIN=$(SOCKLAB_BIN) bash tests/lab/run.sh quick

bench-lab: build
	BIN=$(SOCKLAB_BIN) bash tests/lab/run.sh bench

bench-grade: build
	bash tests/bench/grade.sh

clean:
	$(CARGO) clean
