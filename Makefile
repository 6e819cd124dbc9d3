# The two commands of the README: `make run` and `make test`.
SWIFT ?= swift
CONFIG ?= batch.yaml

.PHONY: all deps test-deps build build-debug run test stress clean

all: build

deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps --test

build: deps
	$(SWIFT) build -c release --product batchd

build-debug: deps
	$(SWIFT) build

# Installs what is missing, builds in release mode, and runs the daemon on the shipped batch.yaml.
run: build
	.build/release/batchd run --config $(CONFIG)

# Builds everything (the end-to-end tests run the built binary) and runs every test. The two
# test targets run one after the other: the end-to-end tests block while they wait for real
# processes, and must not starve the unit tests' async work on the 2-thread cooperative pool.
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter BatchdCoreTests
	$(SWIFT) test --skip-build --filter BatchdEndToEndTests

# The same tests with the full counts of the fuzz, crash and soak tests.
stress: test-deps
	$(SWIFT) build --build-tests
	BATCHD_STRESS=1 $(SWIFT) test --skip-build --filter BatchdCoreTests
	BATCHD_STRESS=1 $(SWIFT) test --skip-build --filter BatchdEndToEndTests

clean:
	rm -rf .build
