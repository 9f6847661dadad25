# henbtrust: top-level entry points. See README.md.
SHELL := /bin/bash
PRESET ?= release
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60

.PHONY: all deps configure build test check lint asan demo bench bench-compare fuzz format clean

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

asan:
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

# The README's test command: installs, checks formatting and that nothing
# reads outside the repository, builds, runs every test, then the unit tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer.
check: deps
	scripts/lint.sh
	$(MAKE) test
	$(MAKE) asan

lint:
	scripts/lint.sh

demo: deps build
	scripts/demo.sh

bench: build
	@for b in build/bin/*_benchmark; do echo "== $$b"; $$b --benchmark_min_time=0.2 || exit 1; done

bench-compare: build
	bench/compare.sh

fuzz: deps
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS)
	scripts/run-fuzzers.sh $(FUZZ_SECONDS)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-debug build-asan build-fuzz
