# The model's kernels: -fno-trapping-math lets GCC if-convert the float
# compare/selects in the inline exp/erf of GELU (so those loops vectorise).
# It only concerns floating-point exception flags, not values: no fast-math.
# -ffp-contract=off: the row kernels they share with the decoder
# (src/row_kernels.h) must not be fused differently (clang fuses by default).
$(foreach i,$(KERNEL_ISAS),$(BUILD)/src/model_kernels.$(i).o): CFLAGS += -fno-trapping-math -ffp-contract=off
