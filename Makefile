# crawlhub — the doors a newcomer uses: `make run`, `make test`, `make bench`.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/crawlhub
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: web
web: node_modules/.package-lock.json ## build the dashboard into web/dist (needs only Node.js; installs the build's npm packages)
	npm run --silent build

# npm ci writes node_modules/.package-lock.json: installs on a fresh checkout,
# and again whenever package-lock.json changes. The touch keeps it newer than
# the lock file even if npm leaves its time alone.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: build
build: web ## build the crawlhub binary (dashboard embedded) into bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/crawlhub

.PHONY: run
run: build ## start the all-in-one on http://127.0.0.1:8080 (data in ./data)
	./$(BIN)

.PHONY: test
test: ## install what the tests need, start Redis and FerretDB on loopback, run every test
	bash .ci/test.sh

.PHONY: bench
bench: ## measure the hub against the machine and Centrifugo: BENCHMARKS.md, bench/results.json (about 25 min)
	GO=$(GO) bash internal/bench/bench.sh $(BENCH_ARGS)

FUZZTIME ?= 5s

.PHONY: fuzz
fuzz: ## run every Go fuzz target for FUZZTIME each (5s, as make test does; FUZZTIME=10m to hunt)
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash .ci/fuzz.sh

DURATION ?= 30m

.PHONY: soak
soak: ## run 2 masters, 3 agents, Redis and FerretDB under a mixed load for DURATION (30m); report in docs/soak.md; fails on a leak or a lost line
	GO=$(GO) DURATION=$(DURATION) bash .ci/soak.sh

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: lint
lint: ## gofmt, go vet, staticcheck and a tidy go.mod (run by make test)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

.PHONY: clean
clean: ## remove build output (keeps ./data)
	rm -rf bin .cache
	find web/dist -mindepth 1 ! -name .placeholder -delete
