# The README's two commands: `make demo` and `make test`. Both install any
# missing Debian build dependencies when run as root (otherwise they print
# the apt-get line), then build with CMake.
PREFIX ?= /usr/local
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += --no-print-directory
DEB_PACKAGES := cmake gcc make pkg-config libcjson-dev libcmocka-dev libsqlite3-dev libmicrohttpd-dev libssl-dev libcurl4-openssl-dev
# python3 generates the man pages and bash completion from --help
# (tools/help2man.py); groff-base renders them in their test.
DEB_PACKAGES += python3 groff-base
# OpenMPI: libjoule_mpi and its mpirun test (docs/cluster.md).
DEB_PACKAGES += libopenmpi-dev openmpi-bin

.PHONY: all deps py-test-deps prom-test-deps slurm-test-deps fuzz-deps build test test-plain test-asan test-tsan test-fuzz fuzz-build demo bench bench-peers install clean fuzz

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

# A real Slurm for the SPANK plugin's test (Debian's libslurm-dev builds
# spank_joule.so; slurm-wlm and munge run the test's single-node cluster);
# without them the plugin is not built or its test skips.
slurm-test-deps:
	@if [ "$$(id -u)" = 0 ] && ! { [ -f /usr/include/slurm/spank.h ] && command -v slurmd >/dev/null && command -v munged >/dev/null; }; then \
	  echo "installing libslurm-dev slurm-wlm munge (for the Slurm SPANK plugin and its test)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libslurm-dev slurm-wlm munge) >/dev/null 2>&1 \
	    || echo "slurm not installed: spank_joule.so is not built or its test skips"; \
	fi

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Every test, once as built and once under AddressSanitizer +
# UndefinedBehaviorSanitizer; the threaded tests again under ThreadSanitizer;
# then every fuzz target briefly on its seeds.
test: deps test-plain test-asan test-tsan test-fuzz
	@echo "make test: all suites passed"

test-plain: deps py-test-deps prom-test-deps slurm-test-deps
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
	@for s in windows power_sampling planner bso; do \
	  echo "== bench/peers/$$s.sh"; BUILD=$(BUILD) sh bench/peers/$$s.sh || exit 1; echo; done

# libFuzzer targets (fuzz/): every file parser (daemon config, planner
# profile, optimize-select log, trace, plan JSON, the inference benchmark's
# SSE stream, prompts JSONL and Prometheus metrics text) and jouled's request
# router, built with clang into build-fuzz. `make fuzz` fuzzes each of
# FUZZ_TARGETS for FUZZ_SECONDS, keeping new inputs in build-fuzz/corpus/NAME
# and crashes in build-fuzz/; `make test-fuzz` (part of `make test`) runs
# each for FUZZ_SMOKE_SECONDS on its seeds in fuzz/corpus/NAME only.
FUZZ_TARGETS ?= router config planner_profile select_profile trace plan_json sse prompts metrics hourly
FUZZ_SECONDS ?= 120
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_FLAGS = -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build-fuzz/
HAVE_FUZZER = printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' | \
  clang -x c -fsanitize=fuzzer - -o /dev/null >/dev/null 2>&1

# clang's libFuzzer runtime, installed when missing and run as root.
fuzz-deps:
	@if ! $(HAVE_FUZZER) && [ "$$(id -u)" = 0 ]; then \
	  echo "installing clang libclang-rt-14-dev (for the fuzz targets)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev) >/dev/null || exit 1; \
	fi

fuzz-build: deps fuzz-deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DJOULE_SANITIZE=address,undefined -DJOULE_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzz_targets

test-fuzz: deps fuzz-deps
	@if ! $(HAVE_FUZZER); then \
	  echo "test-fuzz: SKIPPED: clang's libFuzzer runtime is missing (as root, make installs it; else: sudo apt-get install clang libclang-rt-14-dev)"; \
	else \
	  $(MAKE) fuzz-build && for t in $(FUZZ_TARGETS); do \
	    rm -rf build-fuzz/smoke/$$t && mkdir -p build-fuzz/smoke/$$t && \
	    echo "== fuzz_$$t: $(FUZZ_SMOKE_SECONDS) s from fuzz/corpus/$$t" && \
	    ASAN_OPTIONS=detect_leaks=1 build-fuzz/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SMOKE_SECONDS) $(FUZZ_FLAGS) \
	      build-fuzz/smoke/$$t fuzz/corpus/$$t 2>build-fuzz/smoke/$$t.log || \
	      { tail -40 build-fuzz/smoke/$$t.log; echo "test-fuzz: fuzz_$$t failed (log: build-fuzz/smoke/$$t.log)"; exit 1; }; \
	  done && echo "test-fuzz: every fuzz target ran clean"; \
	fi

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do mkdir -p build-fuzz/corpus/$$t && \
	  ASAN_OPTIONS=detect_leaks=1 build-fuzz/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) \
	    build-fuzz/corpus/$$t fuzz/corpus/$$t || exit 1; done

# Configured with the prefix, so what is compiled in (jouled's default
# config, SYSCONFDIR/joule/jouled.conf) matches where it is installed.
install: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
