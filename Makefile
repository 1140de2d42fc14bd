# iamjwt — `make run` starts the local issuer, `make test` checks everything. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PYTHON      ?= python3
STATE_DIR   ?= .iamjwt
LISTEN      ?= 127.0.0.1:8080
REGION      ?= us-east-1
# The audiences the README's and docs/' examples ask for (Azure, GCP, a second audience): `make run` allows them.
AUDIENCE_POLICY ?= docs/local-audience-policy.json
CARGO       ?= cargo
# Honour a shared CARGO_TARGET_DIR (CI caches, worktrees); binaries are looked up there.
TARGET_DIR  ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: help run build test check-deps check-links fuzz-seeds test-rust test-cdk bench soak fuzz venv venv-lambda lambdas dist synth deploy fmt fmt-check lint clippy clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'

run: ## Build and start the local issuer on 127.0.0.1:8080 (state in .iamjwt/; the docs' example audiences allowed)
	$(CARGO) build -p iamjwt-cli
	IAMJWT_AUDIENCE_POLICY="$$(cat $(AUDIENCE_POLICY))" $(TARGET_DIR)/debug/iamjwt serve --listen $(LISTEN) --region $(REGION) --state-dir $(STATE_DIR)

build: ## Build every crate (debug)
	$(CARGO) build --workspace

test: venv check-deps lint check-links fuzz-seeds test-rust test-cdk ## Everything CI runs: dependency checks, fmt, clippy, links in the docs, fuzz oracles on their seeds, unit/adapter/moto tests, end-to-end + interop, CDK checks

check-deps: ## Cargo equals imports: no unused dependency, no AWS SDK in local mode or fuzz/, every Cargo.lock true (scripts/check-deps.py)
	CARGO=$(CARGO) CARGO_TARGET_DIR=$(TARGET_DIR) $(PYTHON) scripts/check-deps.py

fuzz-seeds: ## Every fuzz target's oracle on its committed seeds (fuzz/tests/seeds.rs; no libFuzzer, no nightly)
	$(CARGO) test --manifest-path fuzz/Cargo.toml --locked --no-default-features --test seeds

check-links: ## Every relative link (file and #anchor) and every document named in README.md and docs/ resolves in the repo
	$(PYTHON) scripts/check-links.py --self-test
	$(PYTHON) scripts/check-links.py

# One build for everything `make test` runs: the binaries the e2e suites and cdk/check.sh start (iamjwt, token,
# rotate, iamjwt-loadgen: each package has integration tests, so `cargo test` builds them) and the test
# executables, with one dependency feature set. A separate `cargo build` resolves other features (no
# dev-dependencies) and compiles the dependencies a second time. --locked: a stale Cargo.lock fails.
BUILD_BINS = $(CARGO) test --workspace --locked --no-run

test-rust: venv
	$(BUILD_BINS)
	IAMJWT_BIN=$(TARGET_DIR)/debug/iamjwt IAMJWT_TOKEN_BIN=$(TARGET_DIR)/debug/token IAMJWT_VENV=$(CURDIR)/$(VENV) $(CARGO) test --workspace --locked

test-cdk: venv ## CDK: tsc, jest, cdk-nag, offline synth, logical ids, Lambda env contract, cfn-lint, ASL validation, the workflow in moto
	$(BUILD_BINS)
	VENV=$(CURDIR)/$(VENV) CARGO_TARGET_DIR=$(TARGET_DIR) cdk/check.sh

synth: ## Synthesize the CloudFormation template offline (cdk synth)
	cd cdk && npm ci --no-audit --no-fund && CDK_DISABLE_CLI_TELEMETRY=true npx cdk synth $(CDK_ARGS)

deploy: ## Deploy to the AWS account in your environment (cdk deploy); run `make lambdas` first
	@test -f target/lambda/token/bootstrap -a -f target/lambda/rotate/bootstrap || { echo "error: run 'make lambdas' first" >&2; exit 1; }
	cd cdk && npm ci --no-audit --no-fund && CDK_DISABLE_CLI_TELEMETRY=true npx cdk deploy $(CDK_ARGS)

venv: $(VENV)/.installed ## Create .venv with the Python tools the tests use (awscurl, PyJWT, moto)

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

BENCH_OUT = $(TARGET_DIR)/bench/results.json
LOADGEN   = IAMJWT_BIN=$(TARGET_DIR)/release/iamjwt IAMJWT_VENV=$(CURDIR)/$(VENV) $(TARGET_DIR)/release/iamjwt-loadgen

bench: venv ## Benchmarks (release): micro, raw baseline, gateway load, KMS path (moto, also across key-TTL expiries), token cache vs issuer, agent calls/hour, cold starts (KMS calls counted); target/bench/results.json
	$(CARGO) build --release -p iamjwt-cli -p iamjwt-bench -p iamjwt-lambda
	$(CARGO) bench -p iamjwt-lambda --bench handler
	$(CARGO) bench -p iamjwt-local --bench crypto
	$(LOADGEN) bench --seconds $(or $(BENCH_SECONDS),20) --out $(BENCH_OUT)
	$(LOADGEN) kms --tokens 1000 --ttl-ms 2000 --ttl-run-seconds 6 --out $(BENCH_OUT)
	$(LOADGEN) workload --out $(BENCH_OUT)
	$(LOADGEN) cold-start --runs 20 --token-bin $(TARGET_DIR)/release/token --lambda-dir $(CURDIR)/target/lambda --out $(BENCH_OUT)
	$(LOADGEN) collect-micro --criterion $(TARGET_DIR)/criterion --out $(BENCH_OUT)

soak: ## 60 s at concurrency 64 with a rotation in the middle (release): 0 errors, tokens verify, RSS within 10 %; then 100 rotations in three regions under random outages (moto, virtual clock; SOAK_SEED replays): 0 invariant violations, every token verifies
	$(CARGO) build --release -p iamjwt-cli -p iamjwt-bench
	$(LOADGEN) soak --seconds 60 --concurrency 64
	$(LOADGEN) regions-soak --rotations 100

fuzz: ## Fuzz the parsers of untrusted input (cargo fuzz, FUZZ_SECONDS per target, default 60); docs/fuzzing.md
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),60) CARGO=$(CARGO) fuzz/run.sh

lambdas: venv-lambda ## Build the token and rotate Lambdas (provided.al2023, arm64) into target/lambda/ and print zip sizes
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/build-lambdas.sh

dist: venv-lambda ## Static iamjwt binaries (musl) for x86_64 and aarch64 Linux into target/dist/ and print their sizes
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/build-dist.sh

venv-lambda: $(VENV)/.lambda-installed

$(VENV)/.lambda-installed: $(VENV)/.installed requirements-lambda.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-lambda.txt
	touch $@

# The CDK construct as a jsii library (docs/deploy.md): an npm tarball and a Python wheel carrying the zips of the
# last `make lambdas`, in $(PACKAGE_OUT). package-test installs them in fresh TypeScript and Python apps.
PACKAGE_OUT ?= $(TARGET_DIR)/package
.PHONY: package package-test package-test-if-lambdas

package: ## CDK construct as npm tarball + Python wheel (jsii) with the `make lambdas` zips inside; prints sizes and SHA-256
	PACKAGE_OUT=$(PACKAGE_OUT) LAMBDA_DIR=$(CURDIR)/target/lambda scripts/package-construct.sh

package-test: venv package ## Fresh TypeScript and Python CDK apps install the packages and synthesize (cdk-nag, cfn-lint, equal templates)
	VENV=$(abspath $(VENV)) PACKAGE_OUT=$(PACKAGE_OUT) scripts/package-test.sh

# `make test` runs package-test too when `make lambdas` has built zips of the current source; CI runs it after
# `make lambdas` (.ci/run).
test: package-test-if-lambdas

package-test-if-lambdas:
	@if LAMBDA_DIR=$(CURDIR)/target/lambda scripts/package-construct.sh --zips-ready; then \
	  $(MAKE) --no-print-directory package-test; \
	else \
	  echo "package-test skipped (make test runs it once \`make lambdas\` has built the zips; or: make lambdas package-test)"; \
	fi

lint: fmt-check clippy ## rustfmt --check and clippy -D warnings

fmt: ## Format the Rust code
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean: ## Remove build output and the local state directory
	$(CARGO) clean
	rm -rf $(STATE_DIR)
