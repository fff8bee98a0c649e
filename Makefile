# Developer tasks. The README's two commands are `scripts/run.sh` and `scripts/test.sh`; these are shortcuts.
.DEFAULT_GOAL := help
SHELL := /bin/bash
export SQLX_OFFLINE ?= true

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-10s %s\n", $$1, $$2 }'

setup: ## Install what running and testing need (scripts/setup.sh run|test for one part)
	scripts/setup.sh

run: ## Build, migrate, seed demo data and serve on http://localhost:3000
	scripts/run.sh

dev: ## Rebuild and reload on every change (cargo leptos watch)
	cargo leptos watch

test: ## The whole suite: lints, deny, machete, sqlx cache, tests, OpenAPI, release build, browsers, soak
	scripts/test.sh

check: ## fmt and clippy (ssr and wasm32) only, as the test command runs them
	bash scripts/lib.sh lint

fmt: ## Format the code
	cargo fmt --all

bench: ## Benchmarks (REST, feed, storm, live pages, pages on a large database: BENCH_LARGE=0|only); docs/benchmarks.md
	scripts/bench.sh

bundle: ## Release build of the browser bundle and its size (raw, gzip, brotli) against the 200 KiB budget
	cargo leptos build --release --precompress
	scripts/bundle-size.sh

soak: ## The bounded soak and fault run: two instances, Redis and PostgreSQL restarted mid-run (SECONDS=30)
	scripts/soak.sh $(or $(SECONDS),30)

prepare: ## Regenerate the sqlx offline cache (.sqlx/) after changing a query; needs DATABASE_URL
	SQLX_OFFLINE=false cargo sqlx prepare --workspace -- --all-targets

.PHONY: help setup run dev test check fmt bench bundle soak prepare
