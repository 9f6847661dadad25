# henbtrust: top-level entry points. See README.md.
SHELL := /bin/bash
PRESET ?= release
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
# make report: small (100 devices per scenario), full (each scenario's own size)
# or a number of devices.
SCALE ?= small

.PHONY: all deps configure build test check lint tidy asan tsan demo bench bench-compare fuzz format report clean

all: build

deps:
	@scripts/install-deps.sh

build/build.ninja:
	cmake --preset $(PRESET)

configure: build/build.ninja

build: configure
	cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	ctest --preset $(PRESET) -j $(JOBS)

# Every test again under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

# The tests of the concurrent code (label "concurrent": HTTP server, worker
# pool, stores, PVE service and instances, OAM flow and crashes) under
# ThreadSanitizer. A third full build: not in `make check`, which with ASan
# over the interop tests already takes most of half an hour on 2 cores;
# .ci/run runs it after the check.
tsan:
	cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)

# The README's test command: installs, checks formatting, that nothing reads
# outside the repository and clang-tidy's findings (zero), builds, runs every
# test, then every test again under AddressSanitizer + UBSan.
check: deps
	scripts/lint.sh
	$(MAKE) tidy
	$(MAKE) test
	$(MAKE) asan

lint:
	scripts/lint.sh

tidy: configure
	JOBS=$(JOBS) scripts/tidy.sh

demo: deps build
	scripts/demo.sh

bench: build
	@for b in build/bin/*_benchmark; do echo "== $$b"; $$b --benchmark_min_time=0.2 || exit 1; done

bench-compare: build
	bench/compare.sh

# Every scenario under scenarios/ at SCALE, plotted, and build/report/report.md
# (docs/simulation.md). Fails if any scenario does not pass.
report: build
	SCALE=$(SCALE) scripts/report.sh

fuzz: deps
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS)
	scripts/run-fuzzers.sh $(FUZZ_SECONDS)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-debug build-asan build-tsan build-fuzz
