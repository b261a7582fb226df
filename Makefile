# The README's two commands. Each installs what it needs when missing.
#   make run    build (release) and serve on the built-in default configuration
#   make test   build and run every test (unit, integration, client compatibility)
# and
#   make install    build (release) and copy the binary to $(DESTDIR)$(PREFIX)/bin/vimana
#   make uninstall  remove it

SWIFT ?= swift
PREFIX ?= /usr/local
# What `make release` builds and `make install` copies.
RELEASE_BIN ?= .build/release/vimana

.PHONY: run test build release install uninstall clean

run:
	tools/install-deps.sh build
	$(SWIFT) build -c release --product vimana
	.build/release/vimana serve

test:
	tools/install-deps.sh test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

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
