# swapbench: one non-recursive GNU Makefile.
#
#   make                 build vramd (and the test programs)
#   make test            run every test; last line "N passed, N failed, N skipped"
#   make deps            install what is missing (Debian 12 / Ubuntu 24.04, root)
#   make bench-server    fio against vramd, nbdkit memory and nbdkit null
#   make bench-transport fio on vramd's block devices (nbdfuse, vramd-fuse, ublk, nbd) vs zram, tmpfs-loop (root)
#   make bench           swapbench run SCENARIO=overcommit [TIERS=a,b] [REPEATS=N] [DURATION=S] [SET="memcg.limit=4G ..."] (root)
#   make check-vm        the kernel NBD path on Debian's kernel in QEMU (root)
#   make fuzz            build the libFuzzer targets (clang)
#   make install         swapbench, vramd and their manual pages under PREFIX
#   make uninstall       remove what make install put there
#
# Knobs: V=1 (show commands)  WERROR=1  SANITIZE=address,undefined
#        CUDA=auto|0|1 (vram backend: auto builds it when nvcc is found)
#        BUILD=dir (default build)  TESTS="test-a.sh ..." (a subset)
#        PREFIX=/usr/local  DESTDIR= (staging root for install/uninstall)

BUILD    ?= build
CC       ?= cc
CUDA     ?= auto
NVCC     ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
VERSION  := 0.1.0

ifeq ($(V),1)
Q :=
else
Q := @
endif

CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wvla \
	    -Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings -Wformat=2 \
	    -pthread -MMD -MP -Icommon -DVERSION='"$(VERSION)"'
LDFLAGS  += -pthread
ifeq ($(WERROR),1)
CFLAGS   += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

PKGS     := liburing jansson inih
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -luring -ljansson -linih)
CFLAGS   += $(PKG_CFLAGS)

# --- CUDA: decide once whether the vram backend is built ---------------------
ifeq ($(wildcard servers/backend-vram.c),)
HAVE_CUDA := 0
CUDA_WHY  := servers/backend-vram.c missing
else ifeq ($(CUDA),0)
HAVE_CUDA := 0
CUDA_WHY  := disabled with CUDA=0
else ifneq ($(NVCC),)
HAVE_CUDA := 1
else ifeq ($(CUDA),1)
$(error CUDA=1 but nvcc was not found (set NVCC=/path/to/nvcc))
else
HAVE_CUDA := 0
CUDA_WHY  := nvcc not found at build time
endif

# --- sources -----------------------------------------------------------------
COMMON_SRC  := $(wildcard common/*.c)
CORE_SRC    := servers/handshake.c servers/session.c servers/stats.c \
	       servers/backend.c servers/backend-null.c servers/backend-ram.c \
	       servers/blk.c servers/fuse-session.c
VRAMD_SRC   := $(CORE_SRC) servers/worker.c $(wildcard servers/front-*.c) servers/vramd.c
ifeq ($(HAVE_CUDA),1)
VRAM_SRC    := servers/backend-vram.c servers/vram-writeback.c servers/vram-resident.c \
	       servers/vram-nvml.c
VRAM_CU     := servers/vram-copy.cu
VRAMD_SRC   += $(VRAM_SRC)
$(foreach f,$(VRAM_SRC),$(eval CFLAGS_$(f) := -isystem $(CUDA_HOME)/include))
CFLAGS      += -DHAVE_CUDA=1
VRAMD_LIBS  := -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
# sm_90 (H100/H200) machine code, plus PTX the driver can compile for others.
NVCC_FLAGS  ?= -O3 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
	       -gencode arch=compute_90,code=compute_90
else
CFLAGS      += -DHAVE_CUDA=0 -DCUDA_WHY='"$(CUDA_WHY)"'
endif

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
COMMON_OBJ := $(call obj,$(COMMON_SRC)) $(BUILD)/obj/gen/commit.o
CU_OBJ     := $(patsubst %.cu,$(BUILD)/obj/%.o,$(VRAM_CU))
CORE_OBJ   := $(call obj,$(CORE_SRC) $(VRAM_SRC)) $(CU_OBJ)
VRAMD_OBJ  := $(call obj,$(VRAMD_SRC)) $(CU_OBJ)

# Include paths are per directory: everything sees common/ (-Icommon);
# a servers/ or harness/ file finds its own directory's headers by the
# quoted #include, and neither sees the other's.  Test programs
# (tests/*.c -> build/tests/NAME) link what they test and no more: the
# common/ ones (TEST_COMMON) common/ alone, the unit-harness-* ones the
# harness objects (below), the rest the server core with libnbd, so unit
# tests can reach internal functions.
TEST_SRC   := $(wildcard tests/*.c)
TEST_BIN   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
TEST_LIBS  := $(shell pkg-config --libs libnbd 2>/dev/null || echo -lnbd)
TEST_COMMON := $(addprefix $(BUILD)/tests/,unit-histogram unit-parse unit-pattern memtouch)

# vramd with the vram backend over an emulated GPU (tests/gpu-double/), so
# the backend's logic is tested on hosts without one; tests only.
ifeq ($(HAVE_CUDA),1)
GPU_DOUBLE  := $(BUILD)/tests/vramd-gpu-double
CFLAGS_tests/gpu-double/cuda-double.c := -isystem $(CUDA_HOME)/include -Iservers
endif

all: $(BUILD)/vramd $(TEST_BIN) $(GPU_DOUBLE)
	$(Q)[ "$(HAVE_CUDA)" = 1 ] || echo "note: vram backend skipped: $(CUDA_WHY)"

$(BUILD)/tests/vramd-gpu-double: $(call obj,$(VRAMD_SRC) tests/gpu-double/cuda-double.c) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -ldl -lpthread -lm

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(CFLAGS_$<) -c -o $@ $<

# The commit built (common/provenance.h): rewritten only when it changes, so
# that a new commit relinks the programs and nothing else.
GIT_COMMIT = $(shell git -C '$(CURDIR)' describe --always --dirty --abbrev=12 2>/dev/null | tr -cd 'a-zA-Z0-9._-' || true)
$(BUILD)/gen/commit.c: FORCE
	@mkdir -p $(dir $@)
	$(Q)c='$(GIT_COMMIT)'; printf 'const char build_commit[] = "%s";\n' "$${c:-unknown}" >$@.tmp && \
	{ cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@; }

$(BUILD)/obj/gen/commit.o: $(BUILD)/gen/commit.c common/provenance.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -include common/provenance.h -c -o $@ $<

FORCE:
.PHONY: FORCE

$(BUILD)/obj/%.o: %.cu servers/vram-copy.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC    $<")
	$(Q)$(NVCC) $(NVCC_FLAGS) -Iservers -c -o $@ $<

$(BUILD)/vramd: $(VRAMD_OBJ) $(COMMON_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(VRAMD_LIBS) -lm

$(BUILD)/tests/%: tests/%.c $(CORE_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) -Iservers $(LDFLAGS) -o $@ $< $(CORE_OBJ) $(COMMON_OBJ) $(TEST_LIBS) $(PKG_LIBS) $(VRAMD_LIBS) -lm

$(TEST_COMMON): $(BUILD)/tests/%: tests/%.c $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(COMMON_OBJ) -lm

# --- fuzzing (clang + libFuzzer) ----------------------------------------------
FUZZ_CC    ?= clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Icommon -Iservers -DVERSION='"$(VERSION)"' \
	      -DHAVE_CUDA=0 -DCUDA_WHY='"fuzz build"' $(PKG_CFLAGS) \
	      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
$(BUILD)/fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(COMMON_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(PKG_LIBS) -lm
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/*.c))
fuzz: $(FUZZ_BIN)

# --- harness: the swapbench CLI (harness/*.c + common/*.c) --------------------
# Unit tests tests/unit-harness-*.c link the harness objects (all but main).
HARNESS_SRC  := $(wildcard harness/*.c)
HARNESS_OBJ  := $(call obj,$(HARNESS_SRC))
HARNESS_LIB  := $(filter-out $(BUILD)/obj/harness/swapbench.o,$(HARNESS_OBJ))
HARNESS_LIBS := $(shell pkg-config --libs jansson inih 2>/dev/null || echo -ljansson -linih)
all: $(BUILD)/swapbench

$(BUILD)/swapbench: $(HARNESS_OBJ) $(COMMON_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(HARNESS_LIBS) -lm

# build/swapbench-test: swapbench with its test hooks
# (SWAPBENCH_TEST_KILL_AT, SWAPBENCH_TEST_TOUCH_CORRUPT), for the tests that
# use them; build/swapbench has no such hook (tests/test-hostile-hooks.sh).
HOOKED_SRC   := harness/journal.c harness/cmd-touch.c
HOOKED_OBJ   := $(patsubst %.c,$(BUILD)/obj-hooks/%.o,$(HOOKED_SRC))
all: $(BUILD)/swapbench-test

$(BUILD)/obj-hooks/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -DSWAPBENCH_TEST_HOOKS=1 -c -o $@ $<

$(BUILD)/swapbench-test: $(filter-out $(call obj,$(HOOKED_SRC)),$(HARNESS_OBJ)) $(HOOKED_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(HARNESS_LIBS) -lm
-include $(wildcard $(BUILD)/obj-hooks/harness/*.d)

$(BUILD)/tests/unit-harness-%: tests/unit-harness-%.c $(HARNESS_LIB) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) -Iharness $(LDFLAGS) -o $@ $< $(HARNESS_LIB) $(COMMON_OBJ) $(HARNESS_LIBS) -lm
# --- end of harness section ----------------------------------------------------

# --- top-level jobs -------------------------------------------------------------
# Under sanitizers the tests know (e.g. swap mode cannot mlockall ASan's
# shadow memory, so the swap-path test skips).
test: all
	$(Q)BUILD=$(abspath $(BUILD)) SWAPBENCH_SANITIZED=$(if $(SANITIZE),1,) \
		tests/run-tests $(TESTS)

deps:
	$(Q)scripts/install-deps.sh

bench-server: all
	$(Q)BUILD=$(abspath $(BUILD)) scripts/bench-server.sh $(BENCH_ARGS)

# bench-transport: fio on the block device of each vramd transport (nbdfuse,
# kernel NBD, vramd's FUSE file, ublk) and backend, beside zram and a loop
# device on tmpfs, with CPU per I/O (root; ROUNDS, RUNTIME, SIZE, OUT=DIR ...:
# scripts/bench-transport.sh --help).
bench-transport: all
	$(Q)BUILD=$(abspath $(BUILD)) scripts/bench-transport.sh $(BENCH_ARGS)
.PHONY: bench-transport

# bench-cuda-floor: what a lone 4 KiB copy between VRAM and pinned memory
# costs on this GPU, by each method (the floor under vramd's QD1 time).
ifeq ($(HAVE_CUDA),1)
all: $(BUILD)/tests/cuda-floor
$(BUILD)/tests/cuda-floor: tests/bench/cuda-floor.cu $(VRAM_CU)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC    $<")
	$(Q)$(NVCC) $(NVCC_FLAGS) -Iservers -o $@ $^
endif
bench-cuda-floor: all
	$(Q)[ -x $(BUILD)/tests/cuda-floor ] || { echo "bench-cuda-floor: needs a CUDA build ($(CUDA_WHY))" >&2; exit 1; }
	$(Q)$(BUILD)/tests/cuda-floor

# bench: `swapbench run` on every tier (or TIERS=a,b), REPEATS times each,
# interleaved, with SET="S.K=V ..." as --set overrides; the result lands in
# results/HOST-DATE-SCENARIO/ (root).
SCENARIO ?= overcommit
# It builds everything the run uses (vramd for the nbd tier, the touch
# engine's helpers), prints what doctor finds (tiers, transports, how the
# default scenario is sized here), and ends with the plots, report.md, a
# summary table per tier on the terminal and `swapbench calibrate` on the
# gated metrics (the A/A variation of even against odd repeats, and the
# compare thresholds it suggests; 4 repeats or more).
BENCH_OUT = $(if $(OUT),$(OUT),results/$(shell hostname)-$(shell date -u +%Y%m%dT%H%M%SZ)-$(SCENARIO))
bench: all
	$(Q)out='$(BENCH_OUT)'; \
	$(BUILD)/swapbench doctor && \
	$(BUILD)/swapbench run --scenario $(SCENARIO) $(if $(TIERS),--tiers $(TIERS)) \
		$(if $(REPEATS),--repeats $(REPEATS)) --out "$$out" \
		$(if $(DURATION),--set workload.duration_s=$(DURATION) \
			--set workload.timeout_s=$$(( $(DURATION) * 2 + 120 ))) \
		$(foreach s,$(SET),--set $(s)) && \
	$(BUILD)/swapbench plot "$$out" && $(BUILD)/swapbench report "$$out" && \
	{ $(BUILD)/swapbench calibrate --metric probe_p99 --metric psi_full "$$out/run.json" || true; } && \
	echo "bench: results, plots and report in $$out/report.md"

# check-vm: the kernel NBD client, zram.ko and swapbench run on cgroup v2
# on Debian's stock kernel, in QEMU (TCG) over the host's root (root; the
# kernel package is downloaded once into build/vm-cache).  The same test also runs in `make test`; see
# tests/vm/README.md.
check-vm: all
	$(Q)BUILD=$(abspath $(BUILD)) SWAPBENCH_SANITIZED=$(if $(SANITIZE),1,) \
		tests/run-tests test-vm-kernel-nbd.sh
.PHONY: check-vm

# install: swapbench(1) into bin, vramd(8), a daemon for root, into sbin
# (where an installed swapbench looks for it, bin/../sbin), the manual pages
# (man/, plain roff) into share/man, and the scenarios and gnuplot scripts
# into share/swapbench (found there as bin/../share/swapbench; also
# SWAPBENCH_SCENARIOS and SWAPBENCH_PLOTS); DESTDIR is prepended to every
# path, for packaging.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
# An installed swapbench finds its scenarios and gnuplot scripts in
# BINDIR/../share/swapbench and vramd in BINDIR/../sbin (or on PATH): keep
# BINDIR and SBINDIR under one PREFIX, or set SWAPBENCH_SCENARIOS and
# SWAPBENCH_PLOTS.
DATADIR := $(BINDIR)/../share
INSTALL ?= install
install: $(BUILD)/swapbench $(BUILD)/vramd
	$(Q)$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	$(Q)$(INSTALL) -m 755 $(BUILD)/swapbench $(DESTDIR)$(BINDIR)/swapbench
	$(Q)$(INSTALL) -m 755 $(BUILD)/vramd $(DESTDIR)$(SBINDIR)/vramd
	$(Q)$(INSTALL) -m 644 man/swapbench.1 $(DESTDIR)$(MANDIR)/man1/swapbench.1
	$(Q)$(INSTALL) -m 644 man/vramd.8 $(DESTDIR)$(MANDIR)/man8/vramd.8
	$(Q)$(INSTALL) -d $(DESTDIR)$(DATADIR)/swapbench/scenarios $(DESTDIR)$(DATADIR)/swapbench/plots
	$(Q)$(INSTALL) -m 644 scenarios/*.ini $(DESTDIR)$(DATADIR)/swapbench/scenarios/
	$(Q)$(INSTALL) -m 644 plots/*.gp $(DESTDIR)$(DATADIR)/swapbench/plots/

uninstall:
	$(Q)rm -f $(DESTDIR)$(BINDIR)/swapbench $(DESTDIR)$(SBINDIR)/vramd \
		$(DESTDIR)$(MANDIR)/man1/swapbench.1 $(DESTDIR)$(MANDIR)/man8/vramd.8
	$(Q)rm -rf $(DESTDIR)$(DATADIR)/swapbench

clean:
	rm -rf $(BUILD)

.PHONY: all test deps bench-server bench-cuda-floor bench fuzz install uninstall clean
.DELETE_ON_ERROR:
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
