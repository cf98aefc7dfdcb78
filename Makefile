# tiny-transformer — build, test, demo, bench, install.
#   make demo            set-up, build, run the walkthrough into demo-out/
#   make test            set-up, build, the whole test suite
#   make test-sanitize   the suite under ASan + UBSan (build-san/)
#   make bench           benchmarks (docs/benchmarks.md)
#   make install PREFIX=/usr/local DESTDIR=
# Sources are found by wildcard: src/*.c is the library, cli/*.c the tt CLI,
# tests/test_*.c one test program each, bench/bench_*.c one benchmark each.

CC       ?= cc
BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
# Portable by default: the library and tt run on any x86-64 (and build
# elsewhere). The hot kernel files are compiled once per instruction-set path
# and chosen at run time (src/isa.h, TT_ISA=scalar|avx2|avx512 to force one).
OPT      ?= -O2
SAN      ?=
# libtt's dependencies, the CLI's own (libedit for chat, libmd for SHA-256,
# libmicrohttpd for tt serve; they stay out of libtt), and OpenBLAS, which only the GEMM test and
# benchmark link, to compare against.
LIB_PKGS  := libcjson
CLI_PKGS  := libedit libmd libmicrohttpd
BLAS_PKGS := openblas
PKGS      := $(LIB_PKGS) $(CLI_PKGS) $(BLAS_PKGS)
WARN     := -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Werror
CPPFLAGS += -Iinclude -Isrc -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(LIB_PKGS) $(CLI_PKGS) 2>/dev/null)
BLAS_LIBS  := $(shell pkg-config --libs $(BLAS_PKGS) 2>/dev/null)
LIB_LIBS   := $(shell pkg-config --libs $(LIB_PKGS) 2>/dev/null) -lm
# Threads are the library's own (src/team.c, src/par.h): no OpenMP runtime;
# -fopenmp-simd only honours the kernels' `omp simd` loop pragmas.
CFLAGS   += $(WARN) $(OPT) $(SAN) -pthread -fopenmp-simd -DTT_OMP_SIMD -fPIC -MMD -MP $(PKG_CFLAGS)
LDFLAGS  += $(SAN) -pthread
LDLIBS   += $(PKG_LIBS) -lm
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
# MPI (docs/distributed.md): linked when installed (Open MPI's ompi-c, or
# MPICH's mpich, through pkg-config, else `mpicc --showme`); `make MPI=0`
# builds without it. Only src/dist.c includes <mpi.h>; without MPI it
# compiles to a version that refuses to start a distributed run.
MPI_PC   := $(firstword $(foreach p,ompi-c mpich,$(shell pkg-config --exists $(p) 2>/dev/null && echo $(p))))
ifeq ($(MPI_PC),)
MPI_AUTO := $(if $(shell mpicc --showme:link 2>/dev/null),1,0)
MPI_CFLAGS_FOUND := $(shell mpicc --showme:compile 2>/dev/null)
MPI_LIBS_FOUND := $(shell mpicc --showme:link 2>/dev/null)
else
MPI_AUTO := 1
MPI_CFLAGS_FOUND := $(shell pkg-config --cflags $(MPI_PC))
MPI_LIBS_FOUND := $(shell pkg-config --libs $(MPI_PC))
endif
MPI      ?= $(MPI_AUTO)
ifeq ($(MPI),1)
MPI_CFLAGS := $(MPI_CFLAGS_FOUND) -DTT_HAVE_MPI=1
LDLIBS   += $(MPI_LIBS_FOUND)
LIB_LIBS += $(MPI_LIBS_FOUND)
endif

LIB_SRC   := $(wildcard src/*.c)
TOOL_SRC  := $(wildcard cli/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_AUX  := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
BENCH_SRC := $(wildcard bench/bench_*.c)

# Kernel files built once per ISA path (src/isa.h): x86-64 gets scalar, avx2
# (x86-64-v3) and avx512 (x86-64-v4) copies, other targets the scalar copy.
KERNEL_SRC := src/gen_kernels.c src/model_kernels.c src/gemm.c
ifneq ($(filter x86_64% i686% i386%,$(shell $(CC) -dumpmachine 2>/dev/null)),)
KERNEL_ISAS := scalar avx2 avx512
else
KERNEL_ISAS := scalar
endif
ISA_FLAGS_scalar :=
ISA_FLAGS_avx2   := -march=x86-64-v3 -mtune=generic
ISA_FLAGS_avx512 := -march=x86-64-v4 -mtune=generic
KERNEL_OBJ := $(foreach i,$(KERNEL_ISAS),$(KERNEL_SRC:%.c=$(BUILD)/%.$(i).o))
LIB_OBJ   := $(filter-out $(KERNEL_SRC:%.c=$(BUILD)/%.o),$(LIB_SRC:%.c=$(BUILD)/%.o)) $(KERNEL_OBJ)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_AUX_OBJ := $(TEST_AUX:%.c=$(BUILD)/%.o)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
STATIC    := $(BUILD)/libtt.a
# The shared library: real name libtt.so.MAJOR.MINOR.PATCH, SONAME
# libtt.so.MAJOR (docs/embedding.md, "ABI policy").
VERSION   := $(shell sed -n 's/^\#define TT_VERSION_STRING "\(.*\)"/\1/p' include/tt/common.h)
SOMAJOR   := $(firstword $(subst ., ,$(VERSION)))
SHARED    := $(BUILD)/libtt.so
TT        := $(BUILD)/tt

.PHONY: all deps test-deps demo test test-sanitize check-build check-clang bench bench-run install uninstall clean format exercises fuzz
.DEFAULT_GOAL := all
.SECONDARY:
SANBUILD ?= build-san

all: $(STATIC) $(SHARED) $(TT)

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

define KERNEL_RULE
$$(BUILD)/src/%.$(1).o: src/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(ISA_FLAGS_$(1)) -DTT_KSUFFIX=$(1) -c $$< -o $$@
endef
$(foreach i,$(KERNEL_ISAS),$(eval $(call KERNEL_RULE,$(i))))

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# libtt.so exports exactly the functions include/tt/*.h declare (a version
# script made from the headers; tests/test_exports.c checks it).
$(BUILD)/libtt.map: $(wildcard include/tt/*.h) scripts/api_symbols.sh
	@mkdir -p $(dir $@)
	scripts/api_symbols.sh --map > $@

$(SHARED): $(LIB_OBJ) $(BUILD)/libtt.map
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libtt.so.$(SOMAJOR) -Wl,--as-needed \
	  -Wl,--version-script,$(BUILD)/libtt.map -o $@ $(LIB_OBJ) $(LIB_LIBS)

$(TT): $(TOOL_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(STATIC) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_AUX_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $< $(TEST_AUX_OBJ) $(STATIC) $(LDLIBS) $(TEST_LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

$(BUILD)/tests/test_gemm $(BUILD)/bench/bench_gemm: LDLIBS += $(BLAS_LIBS)
# Programs that use OpenMP themselves: the test that library calls leave a
# program's OpenMP and BLAS thread counts alone, and the FMA peak loops.
OMP_USERS := $(BUILD)/tests/test_gemm $(BUILD)/bench/bench_gemm
$(OMP_USERS) $(OMP_USERS:%=%.o): CFLAGS += -fopenmp
$(OMP_USERS): LDFLAGS += -fopenmp

# tt-nompi: the same tt with src/dist.c built without MPI, for the test that a
# tt without MPI refuses to run as one of N processes (tests/test_dist.c).
TT_NOMPI  := $(BUILD)/tt-nompi
$(BUILD)/nompi/dist.o: src/dist.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(TT_NOMPI): $(TOOL_OBJ) $(BUILD)/nompi/dist.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/nompi/dist.o $(STATIC) $(LDLIBS)

# tt-faults: the same tt with src/train.c built with TT_TEST_FAULTS, whose
# TT_TEST_FAULT variable makes one rank fail or save slowly (tests/test_dist.c).
TT_FAULTS := $(BUILD)/tt-faults
$(BUILD)/faults/train.o: src/train.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DTT_TEST_FAULTS -c $< -o $@
$(TT_FAULTS): $(TOOL_OBJ) $(BUILD)/faults/train.o $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/faults/train.o $(STATIC) $(LDLIBS)

check-build: $(STATIC) $(SHARED) $(TT) $(TT_NOMPI) $(TT_FAULTS) $(TEST_BIN) $(BENCH_BIN)

# Everything (library, tt, tests, benchmarks) built by clang with the same
# -Wall -Wextra -Werror, in its own folder (CI runs it; clang comes with the
# fuzz dependencies).
check-clang:
	$(MAKE) CC=clang BUILD=build-clang check-build

# The suite: every tests/test_* program (cmocka), then the exercise checker on
# the reference solutions; tests/run.sh prints the totals as "N passed, N failed".
test: test-deps
	$(MAKE) --no-print-directory check-build
	TT_BUILD=$(BUILD) tests/run.sh $(TEST_BIN)

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

test-sanitize: test-deps
	$(MAKE) --no-print-directory BUILD=$(SANBUILD) OPT="-O1 -g" SAN="$(SAN_FLAGS)" check-build
	TT_BUILD=$(SANBUILD) TT_SANITIZE=1 TT_SAN_FLAGS="$(SAN_FLAGS)" \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_odr_violation=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  tests/run.sh $(patsubst $(BUILD)/%,$(SANBUILD)/%,$(TEST_BIN))

bench: deps
	$(MAKE) --no-print-directory bench-run

bench-run: $(BENCH_BIN) $(TT)
	@for b in $(BENCH_BIN); do echo "== $$b"; TT_BUILD=$(BUILD) $$b || exit 1; done

demo: test-deps
	$(MAKE) --no-print-directory all
	$(TT) tour --out demo-out
	@echo "The walkthrough report is in demo-out/report.html"

# install never installs system packages: run `make deps` first on a fresh
# machine. As root with no DESTDIR it refreshes the dynamic linker's cache,
# so programs find libtt.so without LD_LIBRARY_PATH.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/tt
	install -m 755 $(TT) $(DESTDIR)$(PREFIX)/bin/tt
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/libtt.a
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libtt.so.$(VERSION)
	ln -sf libtt.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtt.so.$(SOMAJOR)
	ln -sf libtt.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libtt.so
	install -m 644 include/tt/*.h $(DESTDIR)$(PREFIX)/include/tt/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@MPI_LIBS@|$(if $(filter 1,$(MPI)),$(MPI_LIBS_FOUND))|' -e 's|@VERSION@|$(VERSION)|' \
	  tt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tt.pc
	@# a program linked with -ltt finds libtt.so without LD_LIBRARY_PATH: the
	@# pkg-config flags carry an rpath, and a real install refreshes the cache
	@if [ -z "$(DESTDIR)" ] && command -v ldconfig >/dev/null 2>&1; then ldconfig 2>/dev/null || true; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/tt $(DESTDIR)$(PREFIX)/lib/libtt.a $(DESTDIR)$(PREFIX)/lib/libtt.so* \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/tt.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/tt

format:
	clang-format -i include/tt/*.h src/*.c src/*.h cli/*.c cli/*.h tests/*.c tests/*.h bench/*.c 2>/dev/null || true

clean:
	rm -rf build build-* demo-out tour-out

# Only what include/tt/ marks TT_API is visible outside libtt (tt/export.h);
# internal calls then bind directly, without the PLT.
$(LIB_OBJ): CFLAGS += -fvisibility=hidden
# Seeded draws must not depend on the compiler's choice to fuse multiply-adds.
$(BUILD)/src/rng.o: CFLAGS += -ffp-contract=off
# The generator's scalar helpers (erf1, the LayerNorm tail) must do the same
# operations as their vector forms; clang would otherwise fuse a * b + c.
$(foreach i,$(KERNEL_ISAS),$(BUILD)/src/gen_kernels.$(i).o): CFLAGS += -ffp-contract=off
# One numerics contract for training, eval and decoding (docs/numerics.md):
# the decoder's embedding and the products fuse only where the source says.
$(BUILD)/src/gen_decoder.o $(foreach i,$(KERNEL_ISAS),$(BUILD)/src/gemm.$(i).o): CFLAGS += -ffp-contract=off
# AdamW's loop vectorises only without errno from sqrtf (its argument is >= 0).
$(BUILD)/src/optim.o: CFLAGS += -fno-math-errno
# The only file that includes <mpi.h>.
$(BUILD)/src/dist.o: CFLAGS += $(MPI_CFLAGS)

# Component rules (exercises, fuzzing) live in mk/*.mk.
-include $(wildcard mk/*.mk)

-include $(wildcard $(BUILD)/*/*.d $(BUILD)/*/*/*.d)
