# Fuzzing (issue 7): libFuzzer harnesses in fuzz/, built with clang into
# build-fuzz/ under ASan + UBSan, each run for FUZZ_SECONDS (default 30).
#   make fuzz FUZZ_SECONDS=20            all harnesses, one after the other
#   make fuzz FUZZ_TARGETS=tokenizer     just some of them
#   make fuzz-build                      build only
# The runner (fuzz/run.sh) prints executions and coverage (cov:/ft:) per
# harness and fails on the first crash, leaving the input in build-fuzz/crashes/.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= safetensors tokenizer logits cli
FUZZ_BUILD   := build-fuzz
# -Wno-pass-failed: clang cannot honour some "omp simd" loops under ASan at -O1 (a
# missed optimisation, not a defect); -Werror would otherwise stop the build.
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -Wno-pass-failed

.PHONY: fuzz fuzz-build fuzz-bins

fuzz-build:
	@scripts/deps.sh fuzz
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -g" SAN="$(FUZZ_SAN)" \
	  fuzz-bins FUZZ_TARGETS="$(FUZZ_TARGETS)"

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-bins: $(foreach t,$(FUZZ_TARGETS),$(BUILD)/fuzz/fuzz_$(t))

# The CLI harness links the subcommands (everything in cli/ but main.o).
$(BUILD)/fuzz/fuzz_cli: $(BUILD)/fuzz/fuzz_cli.o $(filter-out $(BUILD)/cli/main.o,$(TOOL_OBJ)) $(STATIC)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(STATIC)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
