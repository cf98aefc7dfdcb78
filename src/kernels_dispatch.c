/*
 * src/kernels_dispatch.c — the public names of the per-ISA kernels (see
 * src/isa.h): each forwards to the copy of the path in use.
 *
 * The path is chosen on first use: TT_ISA (scalar, avx2, avx512) when set,
 * capped at what the CPU and the build support, else the best available.
 * Every copy is declared with the type of the public prototype, so a
 * signature that drifts is a compile error, not a wrong call.
 */
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "gen_kernels.h"
#include "isa.h"
#include "model_kernels.h"
#include "tt/common.h" /* tt_kernel_isa (TT_API) */

#if defined(__x86_64__) || defined(__i386__)
#define TT_ISA_X86 1
#else
#define TT_ISA_X86 0
#endif

/* The kernels: X(name, return type, (parameters), (arguments)). */
#define TT_KERNELS_VOID(X)                                                                        \
    X(tt_gen_pack, (float *wp, const float *w, int O, int I), (wp, w, O, I))                      \
    X(tt_gen_linear_blocks,                                                                       \
      (float *out, const float *x, const float *wp, const float *b, int N, int I, int O, int ob0, \
       int ob1, tt_gen_epilogue epi),                                                             \
      (out, x, wp, b, N, I, O, ob0, ob1, epi))                                                    \
    X(tt_gen_layernorm, (float *out, const float *x, const float *w, const float *b, int N, int C), \
      (out, x, w, b, N, C))                                                                       \
    X(tt_gen_attend,                                                                              \
      (float *y, const float *q, const float *K, const float *Vc, int n, int C, int NH,           \
       size_t hstride, float *s, int TP, int h0, int h1),                                         \
      (y, q, K, Vc, n, C, NH, hstride, s, TP, h0, h1))                                            \
    X(tt_gemm,                                                                                    \
      (tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda, const float *B, \
       int ldb, float beta, float *C, int ldc),                                                   \
      (ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc))                                            \
    X(tt_gemm_bias,                                                                               \
      (tt_gemm_op ta, tt_gemm_op tb, int M, int N, int K, const float *A, int lda, const float *B, \
       int ldb, const float *bias, float *C, int ldc),                                            \
      (ta, tb, M, N, K, A, lda, B, ldb, bias, C, ldc))                                            \
    X(tt_gemm_blocking, (int *mr, int *nr, int *kc), (mr, nr, kc))                                \
    X(tt_embed_forward,                                                                           \
      (float *out, const int *tokens, const float *tok_emb, const float *pos, int N, int T, int C, \
       float scale),                                                                              \
      (out, tokens, tok_emb, pos, N, T, C, scale))                                                \
    X(tt_embed_backward,                                                                          \
      (float *dtok_emb, float *dpos, const float *dout, const int *tokens, int N, int T, int C,   \
       float scale),                                                                              \
      (dtok_emb, dpos, dout, tokens, N, T, C, scale))                                             \
    X(tt_layernorm_forward,                                                                       \
      (float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,      \
       int N, int C),                                                                             \
      (out, mean, rstd, x, w, b, N, C))                                                           \
    X(tt_layernorm_backward,                                                                      \
      (float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,        \
       const float *mean, const float *rstd, int N, int C),                                       \
      (dx, dw, db, dout, x, w, mean, rstd, N, C))                                                 \
    X(tt_linear_forward,                                                                          \
      (float *out, const float *x, const float *w, const float *b, int N, int Cin, int Cout),     \
      (out, x, w, b, N, Cin, Cout))                                                               \
    X(tt_linear_backward,                                                                         \
      (float *dx, float *dw, float *db, const float *dout, const float *x, const float *w, int N, \
       int Cin, int Cout),                                                                        \
      (dx, dw, db, dout, x, w, N, Cin, Cout))                                                     \
    X(tt_linear_gelu_forward,                                                                     \
      (float *out, float *act, const float *x, const float *w, const float *b, int N, int Cin,    \
       int Cout),                                                                                 \
      (out, act, x, w, b, N, Cin, Cout))                                                          \
    X(tt_linear_residual_forward,                                                                 \
      (float *out, float *res_out, const float *res_in, const float *x, const float *w,           \
       const float *b, int N, int Cin, int Cout),                                                 \
      (out, res_out, res_in, x, w, b, N, Cin, Cout))                                              \
    X(tt_linear_backward_write,                                                                   \
      (float *dx, float *dw, float *db, const float *dout, const float *x, const float *w, int N, \
       int Cin, int Cout),                                                                        \
      (dx, dw, db, dout, x, w, N, Cin, Cout))                                                     \
    X(tt_linear_backward_gelu,                                                                    \
      (float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,        \
       const float *pre, int N, int Cin, int Cout),                                               \
      (dx, dw, db, dout, x, w, pre, N, Cin, Cout))                                                \
    X(tt_attention_forward,                                                                       \
      (float *y, float *att, const float *q, const float *k, const float *v,                      \
       const uint8_t *keep, float drop_scale, int B, int T, int C, int NH, float *scratch),       \
      (y, att, q, k, v, keep, drop_scale, B, T, C, NH, scratch))                                  \
    X(tt_attention_backward,                                                                      \
      (float *dq, float *dk, float *dv, const float *dy, const float *att, const float *q,        \
       const float *k, const float *v, const uint8_t *keep, float drop_scale, int B, int T,       \
       int C, int NH, float *scratch),                                                            \
      (dq, dk, dv, dy, att, q, k, v, keep, drop_scale, B, T, C, NH, scratch))                     \
    X(tt_attention_backward_y,                                                                    \
      (float *y, float *dq, float *dk, float *dv, const float *dy, const float *q,                \
       const float *k, const float *v, const uint8_t *keep, float drop_scale, int B, int T,       \
       int C, int NH, float *scratch),                                                            \
      (y, dq, dk, dv, dy, q, k, v, keep, drop_scale, B, T, C, NH, scratch))                       \
    X(tt_gelu_forward, (float *out, const float *x, size_t n), (out, x, n))                       \
    X(tt_gelu_backward, (float *dx, const float *dout, const float *x, size_t n),                 \
      (dx, dout, x, n))                                                                           \
    X(tt_dropout_apply,                                                                           \
      (float *out, const float *x, const uint8_t *keep, float scale, size_t n),                   \
      (out, x, keep, scale, n))                                                                   \
    X(tt_dropout_mask,                                                                            \
      (uint8_t *keep, size_t rows, size_t width, float p, uint64_t seed, uint64_t stream_base),   \
      (keep, rows, width, p, seed, stream_base))                                                  \
    X(tt_residual_add, (float *out, const float *a, const float *b, size_t n), (out, a, b, n))    \
    X(tt_crossentropy_backward,                                                                   \
      (float *dlogits, const float *logits, const int *targets, int N, int V, float dloss),       \
      (dlogits, logits, targets, N, V, dloss))                                                    \
    X(tt_sinusoidal_table, (float *pe, int max_len, int C), (pe, max_len, C))

#define TT_KERNELS_RET(X)                                                                         \
    X(tt_gen_packed_floats, (int O, int I), (O, I))                                               \
    X(tt_attention_scratch_floats, (int T), (T))                                                  \
    X(tt_crossentropy_forward,                                                                    \
      (float *losses, const float *logits, const int *targets, int N, int V),                     \
      (losses, logits, targets, N, V))

#define TT_KERNELS(X) TT_KERNELS_VOID(X) TT_KERNELS_RET(X)

/* The copies, typed as the public prototypes. */
#define DECLARE_SCALAR(f, params, args) extern __typeof__(f) f##_scalar;
TT_KERNELS(DECLARE_SCALAR)
#if TT_ISA_X86
#define DECLARE_X86(f, params, args) extern __typeof__(f) f##_avx2, f##_avx512;
TT_KERNELS(DECLARE_X86)
#endif

typedef struct {
#define FIELD(f, params, args) __typeof__(f) *f;
    TT_KERNELS(FIELD)
} kernel_table;

#define ENTRY(sfx) {TT_KERNELS(ENTRY_##sfx)}
#define ENTRY_scalar(f, params, args) f##_scalar,
#define ENTRY_avx2(f, params, args) f##_avx2,
#define ENTRY_avx512(f, params, args) f##_avx512,

static const kernel_table tables[TT_ISA_COUNT_] = {
    [TT_ISA_SCALAR] = ENTRY(scalar),
#if TT_ISA_X86
    [TT_ISA_AVX2] = ENTRY(avx2),
    [TT_ISA_AVX512] = ENTRY(avx512),
#endif
};

/* -1: not chosen yet. Several threads may choose at once; they choose the
 * same path. */
static int active = -1;

const char *tt_isa_name(tt_isa isa) {
    switch (isa) {
    case TT_ISA_SCALAR: return "scalar";
    case TT_ISA_AVX2: return "avx2";
    case TT_ISA_AVX512: return "avx512";
    default: return "?";
    }
}

bool tt_isa_available(tt_isa isa) {
    switch (isa) {
    case TT_ISA_SCALAR: return true;
#if TT_ISA_X86
    case TT_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case TT_ISA_AVX512:
        __builtin_cpu_init();
        return tt_isa_available(TT_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd");
#endif
    default: return false;
    }
}

tt_isa tt_isa_best(void) {
    for (int i = TT_ISA_COUNT_ - 1; i > 0; i--)
        if (tt_isa_available((tt_isa)i)) return (tt_isa)i;
    return TT_ISA_SCALAR;
}

static tt_isa choose(void) {
    tt_isa best = tt_isa_best();
    const char *want = getenv("TT_ISA");
    if (want)
        for (int i = 0; i < TT_ISA_COUNT_; i++)
            if (!strcmp(want, tt_isa_name((tt_isa)i))) return (tt_isa)i < best ? (tt_isa)i : best;
    return best;
}

tt_isa tt_isa_active(void) {
    int a = __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    if (a < 0) {
        a = (int)choose();
        __atomic_store_n(&active, a, __ATOMIC_RELEASE);
    }
    return (tt_isa)a;
}

bool tt_isa_force(tt_isa isa) {
    if ((int)isa < 0 || isa >= TT_ISA_COUNT_ || !tt_isa_available(isa)) return false;
    __atomic_store_n(&active, (int)isa, __ATOMIC_RELEASE);
    return true;
}

const char *tt_kernel_isa(void) { return tt_isa_name(tt_isa_active()); }

static inline const kernel_table *kt(void) { return &tables[tt_isa_active()]; }

#define WRAP_VOID(f, params, args) \
    void f params { kt()->f args; }
TT_KERNELS_VOID(WRAP_VOID)

size_t tt_gen_packed_floats(int O, int I) { return kt()->tt_gen_packed_floats(O, I); }
size_t tt_attention_scratch_floats(int T) {
    return kt()->tt_attention_scratch_floats(T);
}
float tt_crossentropy_forward(float *losses, const float *logits, const int *targets, int N, int V) {
    return kt()->tt_crossentropy_forward(losses, logits, targets, N, V);
}
