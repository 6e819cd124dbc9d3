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

# Builds everything and runs every test. The test targets run one after the other: the
# end-to-end tests block while they wait for real processes, and must not starve the unit
# tests' async work on the 2-thread cooperative pool. The end-to-end tests run the release
# binary, the one `make run` and users run (a debug build of SwiftNIO is ten times slower,
# which the hostile-client test's 100 ms bound would measure instead of batchd).
E2E = BATCHD_BINARY=$(CURDIR)/.build/release/batchd

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) build -c release --product batchd
	$(SWIFT) test --skip-build --filter BatchdCoreTests
	$(SWIFT) test --skip-build --filter BatchdHandlersTests
	$(SWIFT) test --skip-build --filter BatchdHTTPTests
	$(E2E) $(SWIFT) test --skip-build --filter BatchdEndToEndTests

# The same tests with the full counts of the fuzz, crash, soak and hostile-client tests.
stress: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) build -c release --product batchd
	BATCHD_STRESS=1 $(SWIFT) test --skip-build --filter BatchdCoreTests
	BATCHD_STRESS=1 $(SWIFT) test --skip-build --filter BatchdHandlersTests
	BATCHD_STRESS=1 $(SWIFT) test --skip-build --filter BatchdHTTPTests
	BATCHD_STRESS=1 $(E2E) $(SWIFT) test --skip-build --filter BatchdEndToEndTests

clean:
	rm -rf .build
