/*
 * src/kernel_names.h — renames the kernels of one per-ISA copy of a kernel
 * file (see src/isa.h). A kernel file includes this first; the build defines
 * TT_KSUFFIX (scalar, avx2 or avx512) for each copy, so e.g. tt_gen_attend
 * becomes tt_gen_attend_avx2 in that copy, its prototypes included. Without
 * TT_KSUFFIX nothing is renamed. Every kernel that src/kernels_dispatch.c
 * forwards must be listed here.
 */
#ifndef TT_SRC_KERNEL_NAMES_H
#define TT_SRC_KERNEL_NAMES_H

#ifdef TT_KSUFFIX
#define TT_KCAT2(a, b) a##_##b
#define TT_KCAT(a, b) TT_KCAT2(a, b)
#define TT_KNAME(f) TT_KCAT(f, TT_KSUFFIX)

/* src/gen_kernels.c */
#define tt_gen_packed_floats TT_KNAME(tt_gen_packed_floats)
#define tt_gen_pack TT_KNAME(tt_gen_pack)
#define tt_gen_linear_blocks TT_KNAME(tt_gen_linear_blocks)
#define tt_gen_layernorm TT_KNAME(tt_gen_layernorm)
#define tt_gen_attend TT_KNAME(tt_gen_attend)

/* src/gemm.c */
#define tt_gemm TT_KNAME(tt_gemm)
#define tt_gemm_bias TT_KNAME(tt_gemm_bias)
#define tt_gemm_blocking TT_KNAME(tt_gemm_blocking)

/* src/model_kernels.c */
#define tt_embed_forward TT_KNAME(tt_embed_forward)
#define tt_embed_backward TT_KNAME(tt_embed_backward)
#define tt_layernorm_forward TT_KNAME(tt_layernorm_forward)
#define tt_layernorm_backward TT_KNAME(tt_layernorm_backward)
#define tt_linear_forward TT_KNAME(tt_linear_forward)
#define tt_linear_backward TT_KNAME(tt_linear_backward)
#define tt_linear_backward_write TT_KNAME(tt_linear_backward_write)
#define tt_linear_gelu_forward TT_KNAME(tt_linear_gelu_forward)
#define tt_linear_residual_forward TT_KNAME(tt_linear_residual_forward)
#define tt_linear_backward_gelu TT_KNAME(tt_linear_backward_gelu)
#define tt_attention_scratch_floats TT_KNAME(tt_attention_scratch_floats)
#define tt_attention_forward TT_KNAME(tt_attention_forward)
#define tt_attention_backward TT_KNAME(tt_attention_backward)
#define tt_attention_backward_y TT_KNAME(tt_attention_backward_y)
#define tt_gelu_forward TT_KNAME(tt_gelu_forward)
#define tt_gelu_backward TT_KNAME(tt_gelu_backward)
#define tt_dropout_apply TT_KNAME(tt_dropout_apply)
#define tt_dropout_mask TT_KNAME(tt_dropout_mask)
#define tt_residual_add TT_KNAME(tt_residual_add)
#define tt_crossentropy_forward TT_KNAME(tt_crossentropy_forward)
#define tt_crossentropy_backward TT_KNAME(tt_crossentropy_backward)
#define tt_sinusoidal_table TT_KNAME(tt_sinusoidal_table)
#endif

#endif /* TT_SRC_KERNEL_NAMES_H */
