# The two commands the README opens with:
#   make run    build the dashboard and the binary, start UnMoGrowP on embedded defaults with a seeded demo (prints URL and login)
#   make test   the whole test suite, with private PostgreSQL (installed when missing, as root)
#
# The build cache lives outside the checkout so fresh clones build incrementally.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/unmogrowp-target

ADDR ?= 127.0.0.1:8080
DATA_DIR ?= ./data

.PHONY: run test build release web check lint fmt clean-data

run: release
	$(CARGO_TARGET_DIR)/release/unmogrowp demo --addr $(ADDR) --data-dir $(DATA_DIR)

test:
	scripts/test.sh

# The dashboard is embedded in release binaries: build it first.
release: web
	cargo build --release --locked -p unmogrowp

web:
	scripts/browser-test.sh build

build:
	cargo build --locked -p unmogrowp

check:
	cargo check --workspace --all-targets

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

clean-data:
	rm -rf $(DATA_DIR)
