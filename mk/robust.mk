# Robustness (issue 7): allocation-failure injection and valgrind.
#   make valgrind      memcheck on a CLI smoke run of every subcommand
# test_alloc_fail reroutes every malloc/calloc/realloc/free of libtt.a and of
# the test itself through its __wrap_ functions (GNU ld --wrap; works the same
# under ASan, whose malloc is then the __real_ one).
$(BUILD)/tests/test_alloc_fail: LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free

.PHONY: valgrind
valgrind: $(TT)
	@scripts/deps.sh valgrind
	TT_BUILD=$(BUILD) scripts/valgrind_smoke.sh
