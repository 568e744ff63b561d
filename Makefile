# The README's two commands: `make demo` and `make test`. Both install any
# missing Debian build dependencies when run as root (otherwise they print
# the apt-get line), then build with CMake.
PREFIX ?= /usr/local
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += --no-print-directory
DEB_PACKAGES := cmake gcc make pkg-config libcjson-dev libcmocka-dev libsqlite3-dev libmicrohttpd-dev libssl-dev

.PHONY: all deps py-test-deps prom-test-deps build test test-plain test-asan test-tsan demo bench bench-peers install clean fuzz

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || exit 1; \
	  else \
	    echo "missing build dependencies; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# PyTorch for the Python binding's real-training test (Debian's
# python3-torch, ~140 MiB); without it that one test skips.
py-test-deps:
	@if [ "$$(id -u)" = 0 ] && ! dpkg-query -W -f='$${Status}' python3-torch 2>/dev/null | grep -q "install ok installed"; then \
	  echo "installing python3-torch (for the PyTorch test of the Python binding)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch) >/dev/null 2>&1 \
	    || echo "python3-torch not installed: the PyTorch test will skip"; \
	fi

# A real Prometheus server for the daemon's scrape test (Debian's
# prometheus, ~10 s to install); without it that test skips.
prom-test-deps:
	@if [ "$$(id -u)" = 0 ] && ! command -v prometheus >/dev/null; then \
	  echo "installing prometheus (for the daemon's Prometheus scrape test)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >/dev/null 2>&1 \
	    || echo "prometheus not installed: the Prometheus scrape test will skip"; \
	fi

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Every test, once as built and once under AddressSanitizer +
# UndefinedBehaviorSanitizer; the threaded tests again under ThreadSanitizer.
test: deps test-plain test-asan test-tsan
	@echo "make test: all suites passed"

test-plain: deps py-test-deps prom-test-deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DJOULE_SANITIZE=address,undefined >/dev/null
	@cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$(JOBS)

test-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DJOULE_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j$(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j$(JOBS) -L tsan

demo: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) --target joule_cli busy_loop >/dev/null
	@sh examples/demo.sh $(BUILD)

bench: build
	@cmake --build $(BUILD) --target benchmarks -j$(JOBS)
	@for b in $(BUILD)/bench/*; do \
	  [ -x "$$b" ] && [ -f "$$b" ] || continue; echo "== $$b"; "$$b" || exit 1; echo; done

# Side-by-side benchmarks against the peers users would pick instead (Zeus,
# nvidia-ml-py, lowtime), installed from PyPI into a throwaway venv
# ($(BUILD)/peer-venv); joule never depends on them. PEERS_SKIP_LOWTIME=1
# skips the lowtime solve. See docs/benchmarks.md.
bench-peers: build
	@cmake --build $(BUILD) --target benchmarks -j$(JOBS) >/dev/null
	@for s in windows power_sampling planner; do \
	  echo "== bench/peers/$$s.sh"; BUILD=$(BUILD) sh bench/peers/$$s.sh || exit 1; echo; done

# libFuzzer over jouled's request router (clang 14 + libclang-rt-14-dev):
# FUZZ_SECONDS (default 600) of fuzzing from daemon/fuzz_corpus; new inputs
# are kept in build-fuzz/corpus, crashes in build-fuzz/.
FUZZ_SECONDS ?= 600
FUZZ_SOURCES = $(wildcard src/core/*.c src/devices/*.c src/optimize/*.c src/optimize/*/*.c) \
  $(addprefix daemon/,config.c auth.c router.c routes.c metrics.c lease.c sse.c jd.c fuzz_router.c)
fuzz: deps
	@mkdir -p build-fuzz/corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
	  -DJOULE_DEFAULT_DATA_DIR='"$(CURDIR)/../shared/data"' -Iinclude -Isrc -Idaemon \
	  $(FUZZ_SOURCES) -lcjson -lsqlite3 -lcrypto -lpthread -ldl -lm -o build-fuzz/fuzz_router
	cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 ./fuzz_router -max_total_time=$(FUZZ_SECONDS) \
	  -max_len=4096 -print_final_stats=1 corpus ../daemon/fuzz_corpus

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-asan build-tsan
