# The README's two commands. Each installs what it needs when missing.
#   make run    build (release) and serve on the built-in default configuration
#   make test   build and run every test (unit, integration, client compatibility,
#               the Python ledger reader's; the Swift tests under
#               tools/dev/close-guard.sh, which fails a double close), then a
#               short bounded run of the fuzzer against the debug build
# And:
#   make coverage   every Swift test against an instrumented build of its own
#                   (.build/coverage), then line coverage of Sources/ counting the
#                   servers and CLI commands the tests started (tools/coverage.sh)
#   make fuzz       the grammar-aware fuzzer (tools/fuzz) against the release build
#                   for FUZZ_SECONDS; FUZZ_SEED=N repeats a run's choices
#   make install    build (release) and copy the binary to $(DESTDIR)$(PREFIX)/bin/vimana
#   make uninstall  remove it

SWIFT ?= swift
PREFIX ?= /usr/local
# What `make release` builds and `make install` copies.
RELEASE_BIN ?= .build/release/vimana
FUZZ_SECONDS ?= 300
# Long enough to reach deep paths (groups, claims, agents), short enough for CI.
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SEED ?=
FUZZ_FLAGS = $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))
# Its own scratch path, so the instrumented build never replaces the debug one.
COVERAGE_BUILD ?= .build/coverage
COVERAGE_PROFILES = $(CURDIR)/$(COVERAGE_BUILD)/profiles

.PHONY: run test coverage build release install uninstall fuzz clean

run:
	tools/install-deps.sh build
	$(SWIFT) build -c release --product vimana
	.build/release/vimana serve

test:
	tools/install-deps.sh test
	$(SWIFT) build --build-tests
	tools/dev/close-guard.sh $(SWIFT) test --skip-build
	python3 -m unittest tools/ledger/test_vimana_ledger.py
	python3 tools/fuzz/fuzz.py --binary .build/debug/vimana --seconds $(FUZZ_SMOKE_SECONDS) --shrink-seconds 30 $(FUZZ_FLAGS)

# Counters live in the profile file from the start (LLVM's continuous mode,
# %c; on ELF it needs runtime counter relocation), so a server a test kills
# with SIGKILL, or a test stops that way at its end, still counts; %m merges
# the processes of one binary into one file. A failing test still leaves the
# profiles of everything that ran: the figure is printed either way, last,
# and then the target fails with the tests' exit status.
coverage:
	tools/install-deps.sh test
	$(SWIFT) build --build-tests --enable-code-coverage --scratch-path $(COVERAGE_BUILD) \
		-Xswiftc -Xllvm -Xswiftc -runtime-counter-relocation
	rm -rf $(COVERAGE_PROFILES) && mkdir -p $(COVERAGE_PROFILES)
	LLVM_PROFILE_FILE='$(COVERAGE_PROFILES)/%c%m.profraw' $(SWIFT) test --skip-build --scratch-path $(COVERAGE_BUILD); \
	status=$$?; \
	if [ $$status -ne 0 ]; then echo "coverage: swift test failed (exit $$status); the figure counts the tests that ran"; fi; \
	tools/coverage.sh $(COVERAGE_BUILD)/debug $(COVERAGE_PROFILES) && exit $$status

fuzz: release
	python3 tools/fuzz/fuzz.py --binary $(RELEASE_BIN) --seconds $(FUZZ_SECONDS) $(FUZZ_FLAGS)

build:
	tools/install-deps.sh build
	$(SWIFT) build

release:
	tools/install-deps.sh build
	$(SWIFT) build -c release --product vimana

clean:
	rm -rf .build

install: release
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 "$(RELEASE_BIN)" "$(DESTDIR)$(PREFIX)/bin/vimana"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/vimana"
