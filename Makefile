# Makefile - the one entry point of the suite: build, deps, test, asan, bench, reproduce, figures.
#
#   make              library (build/.../liblinformer.a) and drivers (bin/)
#   make deps         install the Debian packages the suite needs (says what it installs)
#   make test         every test; ends with "N passed, M failed"
#   make asan         the same suite under AddressSanitizer + UBSan (= make test SANITIZE=1)
#   make bench        attention GFLOP/s against sgemm, batched spectra against sgesdd, and
#                     the spectrum analysis against NumPy (after make data)
#   make reproduce    the main job (SCALE=default|paper): data, Figure 1, core benchmark
#   make fig1         Figure 1 (results/figures/fig1_spectrum.pdf/.png)
#   make lowrank      low-rank ablations (results/lowrank.h5); make fig-lowrank: its figure
#   make fig3         Figure 3, pretraining ablations (results/figures/fig3_ablations.pdf/.png;
#                     trains the sweep first when results/pretrain lacks it; SCALE=default|gpu)
#   make data         fetch the default model and corpus into data/ (reused when present)
#   make fuzz         build and run the safetensors fuzzer for FUZZ_SECONDS (needs clang)
#   make bench-quick  efficiency benchmark (Table 3), small: 2 layers, n <= 8192, k 128,256
#                     -> results/bench_quick.h5 and .md (minutes on 2 cores)
#   make fig-efficiency  time per token and memory against n from BENCH_FILE
#                     (default results/bench_quick.h5) -> results/figures/fig_efficiency.*
#
# Options: NO_OMP=1 (no OpenMP), NO_NATIVE=1 (no -march=native), NO_CUDA=1 (skip core/cuda),
#          SANITIZE=1 (ASan + UBSan build in build/asan; with -march=native unless
#          NO_NATIVE=1, so that the vector code paths run checked), CUDA_ARCH="80 90".

SHELL := /bin/bash
CC ?= cc
PKGS := hdf5-serial openblas lapacke jansson

# The flags are probed lazily (recursive '=') so that they are read after 'make deps'.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhdf5_hl

OMP_FLAG := $(if $(NO_OMP),,$(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp))
NATIVE_FLAG := $(if $(NO_NATIVE),,$(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo -march=native))
NVCC := $(if $(NO_CUDA),,$(shell command -v nvcc 2>/dev/null || (test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc)))

# -fno-trapping-math lets GCC if-convert the clamps of the vector exp; -fno-math-errno
# lets it vectorize loops that call sqrtf (AdamW's ran one element at a time, 5 ms of a
# 50 ms training step): neither changes a result (sqrt is correctly rounded either way;
# nothing here reads errno after a math call). -ffast-math/-Ofast are deliberately
# absent (NaN handling, SVD accuracy).
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ifeq ($(SANITIZE),1)
  BUILD := build/asan
  BIN := build/asan/bin
  OPT := -O1 -g $(NATIVE_FLAG) -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDSAN := -fsanitize=address,undefined
else
  BUILD := build/release
  BIN := bin
  OPT := -O3 -g $(NATIVE_FLAG)
  LDSAN :=
endif
# BUILD_DIR=dir puts objects and programs of a private build there (parallel work).
ifneq ($(BUILD_DIR),)
  BUILD := $(BUILD_DIR)
  BIN := $(BUILD_DIR)/bin
endif
CFLAGS_ALL = -std=gnu11 $(OPT) -fno-trapping-math -fno-math-errno $(OMP_FLAG) $(WARN) -Icore $(PKG_CFLAGS) $(CUDA_DEFS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lm $(LDLIBS)
LDFLAGS_ALL = $(OMP_FLAG) $(LDSAN) $(LDFLAGS)

CORE_SRC := $(wildcard core/*.c)
CORE_OBJ := $(CORE_SRC:core/%.c=$(BUILD)/core/%.o)
LIB := $(BUILD)/liblinformer.a
DRIVERS := $(patsubst experiments/%.c,$(BIN)/%,$(wildcard experiments/*.c)) \
           $(patsubst analysis/%.c,$(BIN)/%,$(wildcard analysis/*.c))
TEST_SRC := $(filter-out tests/test_cuda%,$(wildcard tests/test_*.c))
TESTS := $(patsubst tests/%.c,$(BIN)/tests/%,$(TEST_SRC))

ifneq ($(NVCC),)
  CUDA_HOME := $(patsubst %/bin/nvcc,%,$(NVCC))
  CUDA_ARCH ?= 80 90
  CUDA_GENCODE := $(foreach a,$(CUDA_ARCH),-gencode arch=compute_$(a),code=sm_$(a)) \
                  -gencode arch=compute_$(lastword $(CUDA_ARCH)),code=compute_$(lastword $(CUDA_ARCH))
  CUDA_SRC := $(wildcard core/cuda/*.cu)
  CUDA_OBJ := $(CUDA_SRC:core/cuda/%.cu=$(BUILD)/cuda/%.o)
  CUDA_LIB := $(BUILD)/liblinformer_cuda.a
  CUDA_LIBS := -L$(CUDA_HOME)/lib64 -lcublas -lcusolver -lcudart -lstdc++
  CUDA_TESTS := $(patsubst tests/%.c,$(BIN)/tests/%,$(wildcard tests/test_cuda*.c))
  # bin/bench --device cuda: effbench.c drops its stand-ins, bin/bench links the CUDA library.
  CUDA_DEFS := -DLF_BENCH_HAVE_CUDA_ENCODER
endif

.PHONY: bench-quick fig-efficiency
.PHONY: lowrank fig-lowrank
.PHONY: all deps deps-auto test test-run asan bench reproduce figures fig1 fig3 data fuzz clean config
.DEFAULT_GOAL := all

all: deps-auto
	@$(MAKE) --no-print-directory build

.PHONY: build
build: config $(LIB) $(DRIVERS) $(TESTS) $(CUDA_LIB) $(CUDA_TESTS)

config:
	@echo "config: CC=$(CC) openmp=$(if $(OMP_FLAG),yes,no) native=$(if $(NATIVE_FLAG),yes,no)" \
	      "cuda=$(if $(NVCC),$(NVCC),no) build=$(BUILD)"

deps:
	@bash .ci/deps.sh

deps-auto:
	@bash .ci/deps.sh --if-missing

$(BUILD)/core/buildinfo.o: FORCE
FORCE:

$(BUILD)/core/%.o: core/%.c $(wildcard core/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) \
	  -DLF_GIT_REV='"$(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"' \
	  -DLF_GIT_DIRTY=$(shell test -z "$$(git status --porcelain --untracked-files=no 2>/dev/null)" && echo 0 || echo 1) \
	  -DLF_CFLAGS='"$(strip $(OPT) $(OMP_FLAG))"' -DLF_CUDA=$(if $(NVCC),1,0) \
	  -c $< -o $@

# effbench.o depends on whether the build has CUDA (LF_BENCH_HAVE_CUDA_ENCODER): the stamp
# changes when that does, so one build directory can switch NO_CUDA=1 on and off.
$(BUILD)/cuda.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(if $(NVCC),1,0)' | cmp -s - $@ || echo '$(if $(NVCC),1,0)' >$@
$(BUILD)/core/effbench.o: $(BUILD)/cuda.stamp

$(LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/%: experiments/%.c $(LIB) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LIB) $(LDFLAGS_ALL) $(LDLIBS_ALL)

$(BIN)/%: analysis/%.c $(LIB) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(LIB) $(LDFLAGS_ALL) $(LDLIBS_ALL)

$(BIN)/tests/%: tests/%.c $(wildcard tests/*.h) $(LIB) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests $< -o $@ $(LIB) $(LDFLAGS_ALL) $(LDLIBS_ALL)

ifneq ($(NVCC),)
$(BUILD)/cuda/%.o: core/cuda/%.cu $(wildcard core/cuda/*.h) $(wildcard core/*.h) Makefile
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -std=c++17 $(CUDA_GENCODE) -Icore -Xcompiler -Wall,-Wextra -c $< -o $@

$(CUDA_LIB): $(CUDA_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/bench: experiments/bench.c $(LIB) $(CUDA_LIB) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< -o $@ $(CUDA_LIB) $(LIB) $(LDFLAGS_ALL) $(CUDA_LIBS) $(LDLIBS_ALL)

# bin/pretrain --device cuda: the driver links the CUDA library (LF_PRETRAIN_HAVE_CUDA).
$(BIN)/pretrain: experiments/pretrain.c $(LIB) $(CUDA_LIB) $(wildcard core/*.h) $(wildcard core/cuda/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DLF_PRETRAIN_HAVE_CUDA -Icore/cuda -I$(CUDA_HOME)/include $< -o $@ $(CUDA_LIB) $(LIB) $(LDFLAGS_ALL) $(CUDA_LIBS) $(LDLIBS_ALL)

$(BIN)/tests/test_cuda%: tests/test_cuda%.c $(wildcard tests/*.h) \
                         $(wildcard core/cuda/*.h) $(wildcard core/*.h) $(CUDA_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests -Icore/cuda -I$(CUDA_HOME)/include $< -o $@ $(CUDA_LIB) $(LIB) $(LDFLAGS_ALL) $(CUDA_LIBS) $(LDLIBS_ALL)
endif

test: deps-auto
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory test-run

test-run:
	@bash tests/run.sh $(BIN) $(if $(NVCC),cuda,nocuda)

asan:
	@$(MAKE) --no-print-directory test SANITIZE=1

bench: deps-auto
	@$(MAKE) --no-print-directory build
	$(BIN)/microbench $(BENCH_ARGS)
	/usr/bin/python3 experiments/bench_spectrum.py $(BIN)

# SCALE=default (64 sequences, minutes on 2 cores) or SCALE=paper (10,000 sequences).
reproduce: deps-auto
	@$(MAKE) --no-print-directory build
	@SCALE=$(SCALE) bash experiments/reproduce.sh $(BIN)

fig1: deps-auto
	@$(MAKE) --no-print-directory build
	@SCALE=$(SCALE) bash experiments/reproduce.sh $(BIN) data fig1


# Low-rank ablations (issue 4): results/lowrank.h5 and results/figures/fig_lowrank.pdf/.png.
lowrank: deps-auto
	@$(MAKE) --no-print-directory build
	@SCALE=$(SCALE) bash experiments/reproduce.sh $(BIN) data lowrank

fig-lowrank: deps-auto
	@$(MAKE) --no-print-directory build
	@SCALE=$(SCALE) bash experiments/reproduce.sh $(BIN) data fig-lowrank

# ---- efficiency benchmark (issue 6) ----
BENCH_FILE ?= results/bench_quick.h5
bench-quick: deps-auto
	@$(MAKE) --no-print-directory build
	@mkdir -p results
	$(BIN)/bench --quick --out results/bench_quick.h5 --force $(BENCH_ARGS)

fig-efficiency: deps-auto
	@$(MAKE) --no-print-directory build
	@bash analysis/fig_efficiency.sh $(BIN) $(BENCH_FILE) results/figures
# ---- end efficiency benchmark ----
fig3: deps-auto
	@$(MAKE) --no-print-directory build
	@SCALE=$(SCALE) bash experiments/reproduce.sh $(BIN) data fig3

figures: fig1 fig-lowrank fig3

data:
	@bash data/fetch.sh

FUZZ_SECONDS ?= 60
fuzz: deps-auto
	@command -v clang >/dev/null || { echo "fuzz: needs clang (apt-get install clang)"; exit 1; }
	@mkdir -p build/fuzz/corpus build/fuzz/seeds
	clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -Icore tests/fuzz_safetensors.c core/safetensors.c core/model_config.c core/json_util.c core/mem.c \
	  core/error.c -ljansson -lm -o build/fuzz/fuzz_safetensors
	build/fuzz/fuzz_safetensors -seed_dir=build/fuzz/seeds
	build/fuzz/fuzz_safetensors -dict=build/fuzz/seeds.dict -max_len=4096 \
	  -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus build/fuzz/seeds

clean:
	rm -rf build bin
