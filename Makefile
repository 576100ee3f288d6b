# fleetrun build, test and lint entry points. `make test` is the README's
# test command; .ci/run installs what the tests need and runs lint, test and
# test-scale.

GO ?= go
GOLANGCI_LINT_VERSION := v2.15.0
TOOLS := $(CURDIR)/.tools/bin
GOLANGCI_LINT := $(TOOLS)/golangci-lint

.PHONY: build test test-scale lint fuzz bench demo clean

# The version fleetrun version prints: git describe works without tags
# (--always falls back to the abbreviated commit) and in linked worktrees,
# where go build records no vcs.revision; outside a checkout it is "dev".
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/fleetrun ./cmd/fleetrun

# Unit, integration (simulated fleets of a few hundred hosts) and CLI tests,
# with the race detector. tools/testsummary runs go test -json, prints the
# package lines and the output of failing tests, then a closing line with
# the tests passed, failed and skipped (and why they were skipped); it exits
# non-zero when a test or a package fails.
test:
	GO=$(GO) $(GO) run ./tools/testsummary -race -timeout 20m ./...

# Fleet-scale tests (1,000+ simulated hosts), without -race.
test-scale:
	$(GO) test -tags scale -run 'Scale' -timeout 20m ./...

$(GOLANGCI_LINT):
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT)
	$(GO) vet ./...
	$(GO) vet -tags scale ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l lists unformatted files:"; echo "$$unformatted"; exit 1; fi
	$(GOLANGCI_LINT) run ./...

# A short run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	@for spec in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -H '^func Fuzz' | sed -E 's#^\./(.*)/[^/]*_test.go:func (Fuzz[A-Za-z0-9_]*).*#\1:\2#' | sort -u); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; \
		echo "fuzz ./$$pkg $$fn"; \
		$(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

# Fleet-scale benchmarks against a separate simulated fleet; rewrites BENCHMARKS.md.
bench:
	./bench/run

# Apply the example rollout to a simulated fleet started in-process.
demo:
	$(GO) run ./cmd/fleetrun apply examples/monthly-patch.yaml -i examples/sim-inventory.yaml

clean:
	rm -rf bin .tools
