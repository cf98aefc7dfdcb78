# The Module 07 exercises (issues 6 and 17): exercises/ex*.c (yours), the
# reference solutions in exercises/solutions/, and the checker (exercises/checker.c).
#   make exercises                 build your exercises/ex*.c, run the checker
#   make exercises SHOW=1          the same, and show your results beside the reference's
#   make exercises SOLUTIONS=1     the same with the reference solutions
#   make exercises EX="5 6"        only some exercises (numbers or names)
#   make exercises CHECKER_ARGS=--no-fork   run in-process (for a debugger)
# Exit status: non-zero when an exercise failed (or crashed, timed out, or did
# not compile). An exercise that is "not done yet" (its function still returns
# TT_ERR_NOT_IMPLEMENTED) does not fail the run, so the untouched stubs exit
# 0; with SOLUTIONS=1 anything short of 14 passed is a failure.
# Objects go under $(BUILD)/exercises/; the checker links against $(STATIC).
# Your files are compiled without -Werror (warnings are shown, not fatal), and
# one at a time: a file that does not compile is left out of the link (the
# checker's weak stand-ins take its place), its compiler messages are kept in
# $(EX_OBJDIR)/exNN_name.err, and the checker reports that exercise as "does
# not compile" while the others build and run. The solutions and the checker
# keep the project's -Werror.
# EX_DIR and EX_OBJDIR (where your files are, where their objects go) exist for
# the tests (tests/test_exercises.c), which check a planted file elsewhere.

EX_DIR ?= exercises
EX_OBJDIR ?= $(BUILD)/exercises
EX_LEARNER_SRC := $(sort $(wildcard $(EX_DIR)/ex*.c))
EX_SOLUTION_SRC := $(sort $(wildcard exercises/solutions/ex*.c))
EX_CHECKER_OBJ := $(BUILD)/exercises/checker.o

ifeq ($(SOLUTIONS),1)
EX_OBJ := $(EX_SOLUTION_SRC:%.c=$(BUILD)/%.o)
EX_BIN := $(BUILD)/exercises/checker-solutions
EX_FLAGS := --require-all
else
EX_OBJ := $(patsubst $(EX_DIR)/%.c,$(EX_OBJDIR)/%.o,$(EX_LEARNER_SRC))
EX_BIN := $(EX_OBJDIR)/checker
EX_FLAGS := --compile-errors $(EX_OBJDIR)
endif
ifeq ($(SHOW),1)
EX_FLAGS += --show
endif

ifneq ($(filter exercises,$(MAKECMDGOALS)),)
# tests/run.sh calls `make exercises SOLUTIONS=1 BUILD=$TT_BUILD` without the
# sanitizer flags that built the library there; under `make test-sanitize` it
# exports TT_SANITIZE=1, so use the same flags as test-sanitize.
ifeq ($(TT_SANITIZE),1)
ifeq ($(strip $(SAN)),)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT := -O1 -g
endif
endif
# Rebuild the exercise objects when the compiler or its flags change, so a
# sanitized and a plain build never get mixed in one BUILD directory.
EX_FLAGS_STAMP := $(BUILD)/exercises/flags.txt
EX_FLAGS_NOW := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
ifneq ($(shell cat $(EX_FLAGS_STAMP) 2>/dev/null),$(strip $(EX_FLAGS_NOW)))
$(shell mkdir -p $(BUILD)/exercises && printf '%s\n' '$(strip $(EX_FLAGS_NOW))' > $(EX_FLAGS_STAMP))
endif
endif

EX_CPPFLAGS = $(CPPFLAGS) -Iexercises

.PHONY: exercises
exercises: $(EX_BIN)
	@for e in $(EX_OBJDIR)/ex*.err; do [ ! -f "$$e" ] || [ -f "$(EX_DIR)/$$(basename "$$e" .err).c" ] \
	  || rm -f "$$e"; done # a deleted file is not "does not compile"
	$(EX_BIN) $(EX_FLAGS) $(CHECKER_ARGS) $(EX)

# Links only the objects that exist: a learner file that did not compile has
# none (its .err file tells the checker why).
$(EX_BIN): $(EX_CHECKER_OBJ) $(EX_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $(EX_CHECKER_OBJ) $$(for o in $(EX_OBJ); do [ -f $$o ] && echo $$o; done) \
	  $(STATIC) $(LDLIBS)

# The learner's files: the project's flags minus -Werror. A compile error does
# not stop make: the messages are shown, kept in the .err file, and the object
# (and any stale one) is removed.
$(EX_OBJDIR)/ex%.o: $(EX_DIR)/ex%.c exercises/exercises.h $(EX_FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@rm -f $(@:.o=.err)
	@$(if $(findstring s,$(firstword -$(MAKEFLAGS))),:,echo "$(CC) $(EX_CPPFLAGS) $(filter-out -Werror,$(CFLAGS)) -c $< -o $@")
	@$(CC) $(EX_CPPFLAGS) $(filter-out -Werror,$(CFLAGS)) -c $< -o $@ 2>$(@:.o=.log) \
	  || { mv $(@:.o=.log) $(@:.o=.err); rm -f $@; }
	@if [ -f $(@:.o=.err) ]; then cat $(@:.o=.err) >&2; \
	  echo "$<: does not compile; the checker reports it and runs the other exercises" >&2; \
	  else cat $(@:.o=.log) >&2; rm -f $(@:.o=.log); fi

$(BUILD)/exercises/solutions/%.o: exercises/solutions/%.c exercises/exercises.h $(EX_FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/exercises/checker.o: exercises/checker.c exercises/exercises.h $(EX_FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(CFLAGS) -c $< -o $@
