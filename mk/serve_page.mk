# The sampling explorer of `tt serve` (issue 15, docs/serve.md#the-sampling-explorer).
# The page is kept as real source files in cli/serve_page/ and turned into C
# arrays at build time by scripts/embed_files.sh (od and sed: no new package),
# so tt serves it with no file beside the binary and no network.
SERVE_PAGE_FILES := $(sort $(wildcard cli/serve_page/*))
$(BUILD)/gen/serve_page_files.inc: $(SERVE_PAGE_FILES) scripts/embed_files.sh
	@mkdir -p $(dir $@)
	scripts/embed_files.sh $(SERVE_PAGE_FILES) > $@.tmp && mv $@.tmp $@
$(BUILD)/cli/serve_page.o: $(BUILD)/gen/serve_page_files.inc
$(BUILD)/cli/serve_page.o: CPPFLAGS += -I$(BUILD)/gen

# The distribution's unit test links the CLI's object that computes it.
$(BUILD)/tests/test_serve_dist: $(BUILD)/tests/test_serve_dist.o $(BUILD)/cli/serve_dist.o $(TEST_AUX_OBJ) $(STATIC)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/cli/serve_dist.o $(TEST_AUX_OBJ) $(STATIC) $(LDLIBS) $(TEST_LIBS)
