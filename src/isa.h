/*
 * src/isa.h — which instruction-set path the kernels run on.
 *
 * The hot kernel files (src/gen_kernels.c, src/model_kernels.c) are compiled
 * once per path (scalar: the baseline of the target; avx2: x86-64-v3, AVX2 +
 * FMA; avx512: x86-64-v4), each copy with its functions renamed by
 * src/kernel_names.h. src/kernels_dispatch.c defines the public kernel names
 * and forwards every call to the copy chosen once per process: the best path
 * the CPU supports, or the one TT_ISA=scalar|avx2|avx512 asks for (capped at
 * what the CPU supports). So one build runs on any x86-64 (and builds, scalar
 * only, elsewhere) and uses AVX-512 where it exists.
 *
 * Numerics (docs/numerics.md): the generator's kernels give bit-identical
 * results on every path (every value is one fixed chain of fmaf operations);
 * the training/evaluation forward shares their arithmetic (src/row_kernels.h,
 * one chain per product in src/gemm.c), bit-identical between avx2 and avx512
 * and within float rounding on the scalar path, whose products round a*b and
 * the sum apart; the backward's few `omp simd` sums are reassociated by the
 * vector width (tests bound it).
 */
#ifndef TT_SRC_ISA_H
#define TT_SRC_ISA_H

#include <stdbool.h>

typedef enum { TT_ISA_SCALAR = 0, TT_ISA_AVX2 = 1, TT_ISA_AVX512 = 2, TT_ISA_COUNT_ } tt_isa;

/* "scalar", "avx2", "avx512"; "?" for anything else. */
const char *tt_isa_name(tt_isa isa);
/* Whether this build has the path and this CPU can run it. */
bool tt_isa_available(tt_isa isa);
/* The best available path. */
tt_isa tt_isa_best(void);
/* The path the kernels use now (chosen on first use, see above). */
tt_isa tt_isa_active(void);
/* Switches every kernel to `isa` (tests and benchmarks; not thread-safe
 * against kernels running at the same time). @return false (and changes
 * nothing) when the path is not available. */
bool tt_isa_force(tt_isa isa);

#endif /* TT_SRC_ISA_H */
