# Fanout: make build, make test, make run (and the bench targets below).

GO ?= go
BIN ?= bin

# Flags of `make test`'s go test run.
TEST_FLAGS ?= -race
# Further commands `make test` runs after go test: the quick benchmark, so
# the whole pipeline (build, mocks, gateway, load, report) is proven to work.
# Its results go to a temporary directory, not results/.
TEST_EXTRA ?= $(GO) run ./bench -quick -quiet -out $${TMPDIR:-/tmp}/fanout-bench-quick

# Flags passed to the gateway and the mock backends by `make run`,
# e.g. make run GATEWAY_FLAGS="-mode sequential".
GATEWAY_FLAGS ?=
MOCK_FLAGS ?=

.PHONY: all build test allocs shedding manifests vet run clean demo stage fleet bench bench-quick bench-fleet fuzz lint-spec

all: build

build:
	$(GO) build -o $(BIN)/gateway ./gateway
	$(GO) build -o $(BIN)/mockbackends ./mockbackends

# The lint of the public document, part of `make test`; TEST_LINT= leaves
# it out.
TEST_LINT ?= lint-spec

test:
	$(GO) test $(TEST_FLAGS) ./...
	$(MAKE) --no-print-directory allocs
	$(MAKE) --no-print-directory shedding
	$(MAKE) --no-print-directory manifests
	$(if $(TEST_LINT),$(MAKE) --no-print-directory $(TEST_LINT))
	$(TEST_EXTRA)

# lint-spec lints the public view of the document (what /openapi.yaml
# serves: no x- extensions), written to a temporary file, with Redocly CLI
# (pinned, through npx; needs node and npm) and redocly.yaml. Redocly fails
# on errors only; .ci/lint-spec.cjs lists every problem and fails on
# warnings too, and on problems hidden by an ignore file (a rule is switched
# off in redocly.yaml, with its reason, or not at all).
REDOCLY ?= npx --yes @redocly/cli@2.77.0

lint-spec:
	@set -e; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	$(GO) run ./gateway/publicdoc -o "$$dir/openapi.yaml"; \
	$(REDOCLY) lint --config redocly.yaml --format json "$$dir/openapi.yaml" > "$$dir/lint.json" 2> "$$dir/lint.err" || true; \
	node .ci/lint-spec.cjs "$$dir/lint.json" "$$dir/lint.err"

# The allocation guards of the hot paths skip under -race (the race
# detector allocates, and sync.Pool drops items on purpose), so they run
# once more without it.
# Only the packages that have such tests are built again (a cold build of
# every test package without -race would add a minute, most of it for the
# browser test's Chrome DevTools protocol package).
ALLOC_TESTS ?= Alloc
ALLOC_PKGS ?= $(shell grep -rl --include='*_test.go' 'func Test[A-Za-z]*$(ALLOC_TESTS)' gateway mockbackends | xargs -n1 dirname | sort -u | sed 's|^|./|')
allocs:
	$(GO) test -count=1 -run '$(ALLOC_TESTS)' $(ALLOC_PKGS)

# The shedding tests judge the gateway by its own CPU's saturation under
# load; the race detector multiplies what a request costs it several times
# over, so they skip under -race and run here, without it (about 30 s).
shedding:
	$(GO) test -count=1 -run 'TestSlowBackendIsNotShed|TestSaturatedGatewaySheds' ./gateway/internal/overload/

# The Kubernetes manifests' check decodes YAML into the API types: the
# race detector has nothing to find there, and building k8s.io/api with it
# costs a fresh machine half a minute more, so the test skips under -race
# (a build tag) and runs here, on the build go vet already made.
manifests:
	$(GO) test -count=1 ./gateway/internal/manifests/

# make fuzz: each fuzz target (PACKAGE:Target) runs for FUZZTIME. It is
# not part of make test: go test already runs every target's seeds and
# corpus (testdata/fuzz) as regression tests, under -race, while fuzzing
# needs a build of every dependency instrumented for coverage (two minutes
# on a fresh 2-core machine, for FuzzRequest's tree), too dear for a few
# seconds of search on every run. A run that ends in
# "context deadline exceeded" without a failing input is the go command's
# fuzz coordinator timing out while it stops its workers, not a finding: it
# is tried once more. A real failure writes its input and fails at once.
# The targets: request handling, x-fanout templates and field extraction,
# the mock backends' config, the bench's expectations and Server-Timing parser.
# Longer: make fuzz FUZZTIME=5m FUZZ_TARGETS=./gateway/internal/hardening:FuzzRequest
FUZZTIME ?= 10s
FUZZ_TARGETS ?= ./gateway/internal/hardening:FuzzRequest \
	./gateway/fanout:FuzzCompileTemplate ./gateway/fanout:FuzzExpand ./gateway/fanout:FuzzExtract \
	./mockbackends/model:FuzzDecode ./mockbackends/model:FuzzParseLatency \
	./bench/expect:FuzzParse ./bench/servertiming:FuzzParse

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		log=$${TMPDIR:-/tmp}/fanout-fuzz.log; \
		for try in 1 2; do \
			if $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg > $$log 2>&1; then break; fi; \
			if [ $$try = 1 ] && grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
				echo "  go's fuzz coordinator timed out stopping its workers (no failing input); once more"; continue; fi; \
			cat $$log; exit 1; \
		done; \
	done

# staticcheck, pinned, through the Go module proxy.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

vet:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@out=$$(gofmt -l gateway mockbackends bench 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The mock backends run in the background, the gateway in the foreground;
# Ctrl-C stops the gateway gracefully and the trap stops the mocks. Without
# -tokens in GATEWAY_FLAGS, the gateway prints a development token and a
# curl line that uses it on stdout, apart from its log on stderr.
run: build
	@set -e; \
	$(BIN)/mockbackends $(MOCK_FLAGS) & mocks=$$!; \
	trap 'kill -TERM $$mocks 2>/dev/null || true; wait $$mocks 2>/dev/null || true' EXIT INT TERM; \
	$(BIN)/gateway $(GATEWAY_FLAGS)

# The talk-style demo (about a minute): starts its own mocks and gateways on
# free ports. make demo DEMO_FLAGS="-no-pause -html demo.html"; see -h.
DEMO_FLAGS ?=

demo:
	$(GO) run ./bench demo $(DEMO_FLAGS)

# The live dashboard for talks: starts its own mocks and gateway and serves
# a page on a port it prints; Ctrl-C stops everything. Built, then run, as
# bench is below, so that a bad flag exits 2.
# make stage STAGE_FLAGS="-addr 127.0.0.1:8800 -mode blocking"; see -h.
STAGE_FLAGS ?=

stage:
	$(GO) build -o $(BIN)/bench ./bench
	$(BIN)/bench stage $(STAGE_FLAGS)

# A fleet on loopback: Redis, the mock backends, FLEET gateway replicas and
# HAProxy with deploy/haproxy/haproxy.cfg in front; prints the URL and a
# token, and Ctrl-C stops everything. Built, then run, as stage is.
# make fleet FLEET=2 FLEET_FLAGS="-addr 127.0.0.1:8000"; see bin/bench fleet -h.
FLEET ?= 3
FLEET_FLAGS ?=

fleet:
	$(GO) build -o $(BIN)/bench ./bench
	$(BIN)/bench fleet -replicas $(FLEET) $(FLEET_FLAGS)

# The benchmark suite (about 15 minutes on 2 cores): builds the gateway, the
# mocks and the CPU floor, runs scenarios/{talk,tail,pool-vs-async,slow-backend,hedging,hot-keys,dead-backend,overload,hostile,capacity,soak,cost}.yaml
# and writes a report per scenario under results/. bench-quick: under a
# minute. make bench BENCH_FLAGS="-quiet talk"; bin/bench -h.
#
# The bench binary is built, then run, rather than `go run`: go run turns
# every non-zero exit into 1, and bench's exit status means something (1 an
# expectation failed, 2 a bad scenario file, 130 interrupted). The build is
# cached by the go command, so it costs a second when nothing changed.
BENCH_FLAGS ?=

bench:
	$(GO) build -o $(BIN)/bench ./bench
	$(BIN)/bench $(BENCH_FLAGS)

bench-quick:
	$(GO) build -o $(BIN)/bench ./bench
	$(BIN)/bench -quick $(BENCH_FLAGS)

# The fleet scenario (scenarios/fleet.yaml, about a minute), not in the
# default suite: three replicas behind HAProxy sharing Redis with
# Sentinel, a rolling restart, a kill -9 and a Redis failover under load.
# It needs haproxy, redis-server and redis-sentinel. It is named with its
# .yaml: `bench fleet` is the command that starts a fleet and waits.
bench-fleet:
	$(GO) build -o $(BIN)/bench ./bench
	$(BIN)/bench $(BENCH_FLAGS) fleet.yaml

clean:
	rm -rf $(BIN)
