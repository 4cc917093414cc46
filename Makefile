# socklab — build, run, test and benchmark.
#
#   make run-iperf SIZE=100   UDP iPerf on loopback (server + client, both reports)
#   make test                 fmt check, clippy, unit and integration tests (a short summary;
#                             the whole output in target/test.log)
#   make bench                every benchmark against its peer tool (not a test)
#   make lab                  socklab across a 3-namespace link limited to 100 Mbit/s (root)
#   make bench-lab            a1 vs iperf3 across that link at 50-200 % of the limit (root)
#   make bench-grade          socklab-check class on a generated class of 40 x 17 programs

SIZE ?= 100
CARGO ?= cargo

.PHONY: build test lint run-iperf bench bench-iperf bench-ping bench-files bench-chat bench-dual clean lab bench-lab bench-grade

build:
	$(CARGO) build --release --bins

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
	bash tests/lab/run.sh quick

bench-lab: build
	bash tests/lab/run.sh bench

bench-grade: build
	bash tests/bench/grade.sh

clean:
	$(CARGO) clean
