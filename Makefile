# The README's two commands. Each installs what it needs when missing.
#   make run    build (release) and serve on the built-in default configuration
#   make test   build and run every test (unit, integration, client compatibility)

SWIFT ?= swift

.PHONY: run test build release clean

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
