# ConcertMaster. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

MODULE  := github.com/concertmaster/concertmaster
BIN     := bin/concertmaster
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# Code generators, pinned. sqlc is run by version rather than as a go.mod tool: it is a long cgo build that pulls
# dozens of modules, and only `make generate` needs it.
SQLC  := go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1
TEMPL := go tool templ
# How many executions each end-to-end benchmark runs: enough to reach a steady state.
E2E_EXECUTIONS ?= 10000
# Generated, committed files; check-generated fails when they differ from a fresh generation.
GENERATED := sql/db views
# The Grafana dashboards generated from deploy/dashboards (JSON).
DASHBOARDS := deploy/compose/grafana/dashboards

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# The file the server started by make run keeps its pid in, and the file make run really makes. A SIGINT sent to make
# alone (an IDE's stop button; Ctrl-C at a terminal signals the whole foreground group, the server included) is not
# passed on: GNU make waits for the running recipe, but first deletes the target file that recipe changed (unless it
# is .PHONY or .PRECIOUS), and serve --pid-file stops gracefully when its file is removed. The recipe writes the
# file (with its shell's pid, which exec hands on to the server) before setting up, so that a SIGINT during set-up
# stops the run too.
RUN_PID ?= .data/run.pid

.PHONY: run
run: $(RUN_PID) ## Set up everything (a private PostgreSQL unless DATABASE_URL is set), migrate and serve on LISTEN_ADDR

# Made every time, since build is phony.
$(RUN_PID): build
	@set -e; mkdir -p $(@D); trap 'rm -f $@' EXIT; echo $$$$ >$@; \
	env=$$(deploy/dev/env.sh); eval "$$env"; \
	./$(BIN) migrate; \
	[ -e $@ ] || exit 130; \
	echo "ConcertMaster is starting on http://$${LISTEN_ADDR:-127.0.0.1:8080} (Ctrl-C stops it; make stop stops the database)"; \
	exec ./$(BIN) serve --pid-file $@

.PHONY: stop
stop: ## Stop the private PostgreSQL and Redis started by make run / make test
	@deploy/dev/postgres.sh stop
	@deploy/dev/redis.sh stop

.PHONY: build
build: ## Build bin/concertmaster
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/concertmaster

.PHONY: test
# The test services, the browser toolchain and the deployment tests' programs (on a fresh machine: Debian's
# PostgreSQL, Redis, Chromium, nginx and Prometheus, npm ci, and helm and SeaweedFS's weed built once by version) are set up in the background while vet and the generated-code check run: on a fresh machine both take minutes.
test: ## Vet, check generated code, and run every test against real PostgreSQL, Redis and Chromium
	@set -e; mkdir -p .data; \
	(deploy/dev/test-env.sh && deploy/dev/browser-env.sh && deploy/dev/ops-env.sh && deploy/dev/s3-env.sh) >.data/test-env 2>.data/test-setup.log & setup=$$!; \
	checks=0; $(MAKE) --no-print-directory vet check-generated || checks=$$?; \
	prepared=0; wait $$setup || prepared=$$?; cat .data/test-setup.log >&2; \
	[ $$prepared = 0 ] || { echo "make test: setting up the test services failed (above)" >&2; exit 1; }; \
	[ $$checks = 0 ]; \
	. ./.data/test-env; \
	go test -race -count=1 -timeout 20m ./...; \
	go test -count=1 -timeout 10m -p 1 -run Hostile ./engine ./engine/sandbox ./cmd/concertmaster

.PHONY: test-big-file
test-big-file: ## The 200 MB file through two serve processes (upload, parse in batches, SIGKILL, resume): peak memory under 250 MB; minutes
	@set -e; env=$$(deploy/dev/test-env.sh); eval "$$env"; \
	TEST_BIG_FILE=1 go test -v -count=1 -timeout 60m -run '^TestA200MBUploadStreamsThroughServeAndSurvivesSIGKILL$$' ./cmd/concertmaster

.PHONY: bench
SCALE_EXECUTIONS ?= 5000000
bench-scale: ## Load SCALE_EXECUTIONS executions (3 node runs each) over 60 days of partitions, roll up statistics; time list, filter, dashboard, search and a prune
	@set -e; env=$$(deploy/dev/test-env.sh); eval "$$env"; \
	SCALE_EXECUTIONS=$(SCALE_EXECUTIONS) go test -v -run '^$$' -bench HistoryScale -benchtime 1x -count=1 -timeout 3h ./sql/store

bench: ## Run the benchmarks and print their figures (the end-to-end ones with 10,000 executions each)
	@set -e; env=$$(deploy/dev/test-env.sh); eval "$$env"; \
	go test -run '^$$' -bench . -benchmem -count=1 -timeout 20m $$(go list ./... | grep -v -e /cmd/ -e /engine/queue); \
	go test -run '^$$' -bench EndToEnd -benchtime $(E2E_EXECUTIONS)x -benchmem -count=1 -timeout 20m ./engine/queue ./cmd/concertmaster

.PHONY: vet
vet: ## go vet, and a goimports check (gofmt plus imports in three groups: standard, others, this module)
	go vet ./...
	@out=$$(go tool goimports -local $(MODULE) -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v -e '_templ.go$$' -e '^sql/db/' || true); \
	if [ -n "$$out" ]; then echo "goimports -local $(MODULE) would change:"; echo "$$out"; exit 1; fi

.PHONY: generate
generate: ## Regenerate sql/db (sqlc), views/*_templ.go (templ) and the Grafana dashboards' JSON
	$(SQLC) generate
	deploy/dev/sqlc-stamp.sh write
	$(TEMPL) generate -path views -log-level warn
	go run ./deploy/dashboards/gen

.PHONY: assets
assets: ## Rebuild static/dist (stylesheet, canvas bundle, manifest, .gz/.br) and the canvas's API types
	go test ./handlers -run '^TestOpenAPIDocumentOfTheEditor$$' -count=1 -update-editor-openapi
	cd static/editor && npm ci --no-audit --no-fund && cp package-lock.json node_modules/.installed-from && npm run build
	@js=static/dist/$$(node -p 'require("./static/dist/manifest.json")["src/main.tsx"].file'); \
	printf 'canvas bundle %s: %s bytes, %s gzipped, %s brotli\n' $$js $$(wc -c <$$js) $$(wc -c <$$js.gz) $$(wc -c <$$js.br)

.PHONY: screenshots
screenshots: ## Refresh docs/screenshots from the browser tests that build and watch a workflow and open the README's views
	@set -e; env=$$(deploy/dev/test-env.sh && deploy/dev/browser-env.sh); eval "$$env"; \
	go test -count=1 -run '^(TestBuildAndWatchAWorkflowInTheBrowser|TestReadmeScreenshots)$$' ./handlers; \
	mkdir -p docs/screenshots; \
	cp test-artifacts/TestBuildAndWatchAWorkflowInTheBrowser/canvas-light.png docs/screenshots/canvas.png; \
	cp test-artifacts/TestBuildAndWatchAWorkflowInTheBrowser/execution-light.png docs/screenshots/execution.png; \
	for view in editor nodeview credentials templates executions; do \
		cp test-artifacts/TestReadmeScreenshots/$$view/$$view.png docs/screenshots/$$view.png; \
	done

.PHONY: check-generated
check-generated: ## Fail when committed generated code differs from a fresh generation
	@sum() { { find $(GENERATED) -type f -name '*.go'; find $(DASHBOARDS) -type f; } | xargs sha256sum | sort | sha256sum; }; \
	before=$$(sum); \
	if deploy/dev/sqlc-stamp.sh check; then $(TEMPL) generate -path views -log-level warn && go run ./deploy/dashboards/gen; \
	else echo "sqlc's inputs or sql/db changed since make generate: running sqlc (its first build takes minutes)"; \
		$(MAKE) -s generate; fi; \
	after=$$(sum); \
	if [ "$$before" != "$$after" ]; then \
		echo "generated code was stale and has been regenerated: review and commit it"; exit 1; fi

.PHONY: fmt
fmt: ## goimports (three groups: standard, others, this module) and templ fmt
	go tool goimports -local $(MODULE) -w $$(git ls-files '*.go' | grep -v -e '_templ.go$$' -e '^sql/db/')
	$(TEMPL) fmt views

.PHONY: clean
clean: stop ## Stop services and remove bin/ and .data/ (the private database too)
	rm -rf bin .data
