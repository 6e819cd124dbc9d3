# The two commands of the README: `make run` and `make test`.
SWIFT ?= swift
CONFIG ?= batch.yaml

PREFIX ?= /usr/local
DESTDIR ?=
MANUAL = .build/plugins/GenerateManual/outputs/batchd

.PHONY: all deps test-deps build build-debug run test stress install bench bench-quick clean

all: build

deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps --test

# The release binary with the Swift runtime and FoundationEssentials linked in: it needs no Swift on the
# machine it runs on, and maps less (bench/RESULTS.md has its footprint beside the peers').
RELEASE = $(SWIFT) build -c release --product batchd --static-swift-stdlib

build: deps
	$(RELEASE)

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
	$(RELEASE)
	$(SWIFT) test --skip-build --filter BatchdCoreTests
	$(SWIFT) test --skip-build --filter BatchdHandlersTests
	$(SWIFT) test --skip-build --filter BatchdHTTPTests
	$(E2E) $(SWIFT) test --skip-build --filter BatchdEndToEndTests
	$(CLOCK_TESTS)

# The tests that set the wall clock (to what it reads: a step of microseconds) run last and
# alone: every daemon on the machine sees the setting, and the idle tests count wake-ups.
# Setting the clock needs root (CAP_SYS_TIME); elsewhere they are left out, and say so.
CLOCK_TESTS = @if [ "$$(id -u)" = 0 ]; then \
	  BATCHD_SETS_CLOCK=1 $(E2E) $(SWIFT) test --skip-build --filter 'WallClockWatcherTests|WallClockTests'; \
	else echo "the wall-clock tests set the clock and need root: left out"; fi

# The same tests with the full counts of the fuzz, crash, soak and hostile-client tests.
stress: test-deps
	$(SWIFT) build --build-tests
	$(RELEASE)
	BATCHD_STRESS=1 $(SWIFT) test --skip-build --filter BatchdCoreTests
	BATCHD_STRESS=1 $(SWIFT) test --skip-build --filter BatchdHandlersTests
	BATCHD_STRESS=1 $(SWIFT) test --skip-build --filter BatchdHTTPTests
	BATCHD_STRESS=1 $(E2E) $(SWIFT) test --skip-build --filter BatchdEndToEndTests
	$(CLOCK_TESTS)

# The binary, a manual page per subcommand and shell completions, all generated from the
# command-line definitions (swift-argument-parser's generate-manual plugin and
# --generate-completion-script), under $(DESTDIR)$(PREFIX).
install: build
	install -D -m 755 .build/release/batchd $(DESTDIR)$(PREFIX)/bin/batchd
	rm -rf $(MANUAL)
	$(SWIFT) package --disable-sandbox generate-manual --multi-page
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(MANUAL)/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	.build/release/batchd --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/batchd
	.build/release/batchd --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_batchd
	.build/release/batchd --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/batchd.fish

# batchd beside APScheduler and cron (bench/run); the other benchmarks are bench/run-history,
# bench/run-http, bench/run-registry and bench/run-reload. Each writes its part of bench/RESULTS.md.
bench: build
	bench/run

bench-quick: build
	bench/run --quick

clean:
	rm -rf .build
