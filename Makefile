# kiln: `make demo` runs the pipeline on the embedded default, `make test` runs
# the tests. Both install their Debian packages first when they are missing.

SHELL := /bin/bash
LUA ?= lua5.4
KILN := gen/kiln
SHARED ?= ../shared
MODELS := $(SHARED)/models

# Debian packages kiln needs: the Lua interpreter and headers, OpenBLAS (the
# benchmark's float baseline), lua-cjson for reading JSON, busted for the
# tests, clang for the warning checks, GNU time for the benchmark's peak RSS,
# the Unicode Character Database (the tokenizers' classes and normalization,
# made into C tables at build time; bzip2 to read its NormalizationTest), the
# cross compilers and emulators of the targets, and for the HTML reports'
# test a real browser (chromium, headless) and zlib's headers (the test's
# small PNG decoder checks the screenshot is not blank); clang's sanitizer and
# libFuzzer runtimes for `make fuzz` (libclang-rt-14-dev).
APT_PACKAGES := lua5.4 liblua5.4-dev libopenblas-dev lua-cjson lua-busted gcc clang make pkg-config time unicode-data \
  bzip2 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user gcc-arm-none-eabi binutils-arm-none-eabi qemu-system-arm \
  chromium zlib1g-dev libclang-rt-14-dev

CC ?= gcc
# -ffp-contract=off: no multiply and add is fused unless the code says so
# (fma), whatever -march allows: the float references give the same bits on
# every host. NATIVE_ARCH adds flags of the user's (e.g. -march=native); the
# kernels for AVX2 and AVX-512 are chosen at run time whatever it is.
NATIVE_ARCH ?=
CFLAGS_NATIVE = -std=c99 -O3 -fno-trapping-math -ffp-contract=off -fPIC -Wall -Wextra -Wpedantic -Werror \
  -D_POSIX_C_SOURCE=200809L -I.build $(NATIVE_ARCH) $(shell pkg-config --cflags lua5.4 openblas 2>/dev/null)
LDLIBS_NATIVE = $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas) -lm

NATIVE := .build/kiln_native.so
INSN_PLUGIN := .build/kiln_insn_plugin.so
NATIVE_SRC := gen/native/kiln_native.c gen/native/codes.c gen/native/pack.c gen/native/normal.c gen/native/program.c \
  gen/native/model.c gen/native/model_run.c gen/native/model_fake_quant.c gen/native/model_exact.c \
  gen/native/model_observe.c gen/native/measure.c gen/native/sampling.c gen/native/host.c \
  gen/native/tensor.c gen/native/gguf_q8_0.c gen/native/regex.c gen/native/regex_parse.c \
  gen/native/regex_charset.c gen/native/regex_compile.c gen/native/regex_match.c \
  gen/native/unicode.c gen/native/bpe.c gen/native/gptq.c runtime/float/graph.c runtime/float/graph_f32.c runtime/float/graph_f64.c \
  runtime/float/model.c runtime/float/reservoir.c runtime/float/sampler.c runtime/float/kiln_math.c runtime/float/dtype.c runtime/float/matmul.c \
  runtime/float/x86/matmul_avx2.c runtime/float/x86/matmul_avx512.c
NATIVE_HDR := gen/native/native.h gen/native/tensor.h gen/native/regex.h gen/native/regex_internal.h gen/native/unicode.h .build/unicode_tables.h \
  runtime/float/dtype.h runtime/float/kiln_float.h runtime/float/graph_ops.inc runtime/float/kiln_math.h \
  runtime/float/matmul_tiles.inc runtime/float/matmul.h runtime/float/matmul_driver.inc

.PHONY: all deps native demo test bench golden clean tico-env test-tico fuzz fuzz-build fuzz-replay fuzz-cli test-sanitize

all: native

# Installs what is missing (as root, on Debian); otherwise says what to install.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

native: deps $(NATIVE) $(INSN_PLUGIN)

# The Unicode tables, from Debian's unicode-data (the installed UCD version).
UCD := /usr/share/unicode
.build/unicode_tables.h: gen/native/unicode_tables.lua
	@mkdir -p .build
	$(LUA) gen/native/unicode_tables.lua $(UCD) > $@.tmp && mv $@.tmp $@

$(NATIVE): $(NATIVE_SRC) $(NATIVE_HDR) Makefile
	@mkdir -p .build
	$(CC) $(CFLAGS_NATIVE) -shared -o $@ $(NATIVE_SRC) $(LDLIBS_NATIVE)

# kiln bench --plugin's instruction counter for firmware under QEMU
# (gen/bench/qemu_insn_plugin.c; a host tool, never in firmware).
$(INSN_PLUGIN): gen/bench/qemu_insn_plugin.c Makefile
	@mkdir -p .build
	$(CC) -std=c99 -O2 -fPIC -fvisibility=hidden -Wall -Wextra -Wpedantic -Werror -shared -o $@ $<

# The demo: the pipeline on stories260K from ../shared when it is there, else
# on the synthetic default model kiln writes itself. Outputs go to out/demo/.
DEMO := out/demo
demo: native
	@set -e; mkdir -p $(DEMO); \
	if [ -f $(MODELS)/stories260K.bin ]; then \
	  model=$(MODELS)/stories260K.bin; tok=$(MODELS)/tok512.bin; text=$(MODELS)/tinystories_valid_first100.txt; \
	else \
	  echo "== ../shared/models not found: writing the synthetic default model"; \
	  echo "   (random weights: its text is noise and its perplexity high; what this demo shows is the"; \
	  echo "   integer C against its fake-quant reference, prefill against decode, and the memory)"; \
	  $(KILN) synth -o $(DEMO)/synth >/dev/null; \
	  model=$(DEMO)/synth/model.bin; tok=$(DEMO)/synth/tokenizer.bin; text=$(DEMO)/synth/text.txt; \
	fi; \
	echo "== kiln describe $$model"; $(KILN) describe $$model; \
	echo "== kiln run (float reference, greedy, 64 steps)"; $(KILN) run $$model -z $$tok -t 0 -n 64; \
	echo "== kiln ppl (float reference)"; $(KILN) ppl $$model -z $$tok --text $$text --max-tokens 128 | tail -1; \
	echo "== kiln calib --preset w8a16"; \
	$(KILN) calib $$model -z $$tok --text $$text --samples 16 --decode-steps 8 -o $(DEMO)/qparams.json; \
	echo "== kiln gen (portable integer C) -> $(DEMO)/model"; \
	$(KILN) gen $$model --qparams $(DEMO)/qparams.json -o $(DEMO)/model --force; \
	$(MAKE) -s -C $(DEMO)/model; \
	echo "== kiln run --qparams (the generated C, greedy, 64 steps)"; \
	$(KILN) run $$model -z $$tok --qparams $(DEMO)/qparams.json -n 64; \
	echo "== kiln eval (20 stories; full report in $(DEMO)/eval.txt)"; \
	$(KILN) eval $$model --qparams $(DEMO)/qparams.json -z $$tok --text $$text --stories 20 > $(DEMO)/eval.txt; \
	sed -n '1,9p' $(DEMO)/eval.txt; grep -E '^[a-z_0-9]+ [-0-9.e]+$$' $(DEMO)/eval.txt

test: native
	@$(LUA) /usr/bin/busted --lpath='gen/?.lua;tests/?.lua' --cpath='.build/?.so' tests

# Fuzzing (tests/fuzz/README.md): libFuzzer harnesses, built with clang's
# -fsanitize=fuzzer,address,undefined, run each reader for FUZZ_SECONDS
# (tests/fuzz/targets/*.lua: the real Lua readers over the native module,
# which is built into each harness). New corpus entries go to
# .build/fuzz/corpus/TARGET; a crash stops the run and leaves its input in
# .build/fuzz/crashes/TARGET. Then the CLI mutator: mutated qparams.json and
# overrides through `kiln gen` (FUZZ_CLI_CASES of them).
FUZZ_SECONDS ?= 60
FUZZ_CLI_CASES ?= 300
FUZZ_TARGETS := llama2c gguf safetensors hf tokenizer_bin tokenizer_json regex unicode bpe
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c99 -g -O1 -fno-trapping-math -ffp-contract=off -Wall -Wextra -Wpedantic -Werror \
  -D_POSIX_C_SOURCE=200809L -I.build $(shell pkg-config --cflags lua5.4 openblas 2>/dev/null) $(FUZZ_SAN)
FUZZ_OBJ := $(patsubst %.c,.build/fuzz/obj/%.o,$(NATIVE_SRC))
FUZZ_BIN := $(FUZZ_TARGETS:%=.build/fuzz/fuzz_%)
FUZZ_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=0:allocator_may_return_null=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
.SECONDARY: $(FUZZ_OBJ)
FUZZ_FLAGS := -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 -max_len=65536

.build/fuzz/obj/%.o: %.c $(NATIVE_HDR) Makefile
	@mkdir -p $(dir $@)
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

.build/fuzz/fuzz_%: tests/fuzz/harness.c $(FUZZ_OBJ)
	@echo "fuzz harness $@"; clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -DKILN_FUZZ_TARGET='"$*"' -DKILN_FUZZ_ROOT='"$(CURDIR)"' -o $@ \
	  tests/fuzz/harness.c $(FUZZ_OBJ) $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4) $(LDLIBS_NATIVE)

fuzz-build: deps $(FUZZ_BIN)

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build/fuzz/corpus/$$t .build/fuzz/crashes/$$t; \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  $(FUZZ_ENV) .build/fuzz/fuzz_$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=.build/fuzz/crashes/$$t/ .build/fuzz/corpus/$$t tests/fuzz/corpus/$$t \
	    $$(test -d tests/fuzz/regressions/$$t && echo tests/fuzz/regressions/$$t) \
	    2>.build/fuzz/$$t.log || { tail -60 .build/fuzz/$$t.log; exit 1; }; \
	  grep -E '^stat::number_of_executed_units|^Done' .build/fuzz/$$t.log | tr '\n' ' '; echo; \
	done
	@$(MAKE) -s --no-print-directory fuzz-cli

# Every committed corpus input and regression through its harness once.
fuzz-replay: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  files=$$(find tests/fuzz/corpus/$$t tests/fuzz/regressions/$$t -type f 2>/dev/null | sort); \
	  $(FUZZ_ENV) .build/fuzz/fuzz_$$t -runs=0 $$files >.build/fuzz/$$t.replay.log 2>&1 \
	    || { tail -60 .build/fuzz/$$t.replay.log; exit 1; }; \
	  echo "fuzz-replay $$t: $$(echo $$files | wc -w) inputs"; \
	done

# The structure-aware mutator of qparams.json and overrides through `kiln gen`.
fuzz-cli: native
	@$(LUA) tests/fuzz/cli_mutator.lua --cases $(FUZZ_CLI_CASES) --seconds $(FUZZ_SECONDS)

# The e2e specs under ASan+UBSan (gcc's): the native module built with the
# sanitizers into .build/sanitize, which busted and the CLI load
# (KILN_NATIVE_DIR, gen/kiln) with libasan preloaded (lua5.4 is not
# instrumented), and the generated C the specs build and run on the host built
# with them too (KILN_HOST_CFLAGS, gen/eval/host.lua). Any report stops the
# program (-fno-sanitize-recover, halt_on_error): the spec fails. Leaks are not
# checked (Lua's own state at exit); an allocation too large returns NULL, as
# malloc does without ASan, so the refusals of huge shapes are tested too. Then the fuzz corpora and regressions
# replayed through their harnesses.
SANITIZE_DIR := .build/sanitize
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
SANITIZE_SPECS := tests/e2e/bad_input_spec.lua tests/e2e/formats_bad_input_spec.lua tests/e2e/tokenizers_spec.lua \
  tests/e2e/synthetic_pipeline_spec.lua tests/e2e/float_reference_spec.lua tests/e2e/hostile_input_spec.lua \
  tests/e2e/qparams_bad_input_spec.lua
SANITIZE_ENV = LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  KILN_NATIVE_DIR=$(CURDIR)/$(SANITIZE_DIR) KILN_HOST_CFLAGS='$(SANITIZE_FLAGS)'

$(SANITIZE_DIR)/kiln_native.so: $(NATIVE_SRC) $(NATIVE_HDR) Makefile
	@mkdir -p $(SANITIZE_DIR)
	$(CC) $(subst -O3,-O1,$(CFLAGS_NATIVE)) $(SANITIZE_FLAGS) -shared -o $@ $(NATIVE_SRC) $(LDLIBS_NATIVE)

test-sanitize: native $(SANITIZE_DIR)/kiln_native.so
	@$(SANITIZE_ENV) $(LUA) /usr/bin/busted --lpath='gen/?.lua;tests/?.lua' --cpath='$(SANITIZE_DIR)/?.so' $(SANITIZE_SPECS)
	@$(MAKE) -s --no-print-directory fuzz-replay

# TICO in (optional, not on the path of demo or test): a venv with TICO 0.3.0
# and the torch and transformers it was qualified with, from PyPI, for
# gen/tico/export_qparams.py; and the README's walk-through from a Hugging
# Face folder through TICO to kiln's generated C and firmware, checked against
# ../shared/tico-golden (tests/tico/).
TICO_VENV := .build/tico-venv
TICO_PACKAGES := tico==0.3.0 torch==2.13.0 transformers==5.24.0 numpy
tico-env: $(TICO_VENV)/.installed

$(TICO_VENV)/.installed:
	@set -e; if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends python3-venv >/dev/null; \
	  else echo "missing Debian package: python3-venv (run: sudo apt-get install python3-venv)"; exit 1; fi; \
	fi; \
	rm -rf $(TICO_VENV); python3 -m venv $(TICO_VENV); \
	$(TICO_VENV)/bin/pip install -q --upgrade pip; \
	$(TICO_VENV)/bin/pip install -q $(TICO_PACKAGES); \
	touch $@

test-tico: native tico-env
	@KILN_TICO_PYTHON=$(TICO_VENV)/bin/python $(LUA) /usr/bin/busted --lpath='gen/?.lua;tests/?.lua' \
	  --cpath='.build/?.so' tests/tico

# Speed against this machine's limits (gen/bench/suite.lua): the fastest target it runs
# on a TinyLlama-shaped layer, stories260K end to end, the generator on a
# 1.1B-parameter model. Not part of `make test`: timings belong here.
bench: native
	@$(KILN) bench --verbose

# The committed golden: the embedded default (synthetic) model, calibrated and
# generated. `make test` regenerates it and fails on any difference.
GOLDEN := out/synthetic
golden: native
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; \
	$(KILN) synth -o $$d >/dev/null; \
	$(KILN) calib $$d/model.bin -z $$d/tokenizer.bin --text $$d/text.txt --samples 8 --decode-steps 4 \
	  --preset w8a16 -o $(GOLDEN).qparams.json; \
	$(KILN) gen $$d/model.bin --qparams $(GOLDEN).qparams.json -o $(GOLDEN) --force

clean:
	rm -rf .build out/demo
