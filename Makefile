# The README's two commands. Each installs what it needs when missing.
#   make run    build (release) and serve on the built-in default configuration
#   make test   build and run every test (unit, integration, client compatibility,
#               the Python ledger reader's), then a short bounded run of the
#               fuzzer against the debug build
# And:
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

.PHONY: run test build release install uninstall fuzz clean

run:
	tools/install-deps.sh build
	$(SWIFT) build -c release --product vimana
	.build/release/vimana serve

test:
	tools/install-deps.sh test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	python3 -m unittest tools/ledger/test_vimana_ledger.py
	python3 tools/fuzz/fuzz.py --binary .build/debug/vimana --seconds $(FUZZ_SMOKE_SECONDS) --shrink-seconds 30 $(FUZZ_FLAGS)

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
