/*
 * src/gemm_workspace.c — the workspace a caller lends its thread's matrix
 * products (src/gemm.h): one thread-local record, shared by every ISA copy of
 * src/gemm.c (this file is compiled once).
 */
#include "gemm.h"

static _Thread_local float *ws_base;
static _Thread_local size_t ws_floats;

size_t tt_gemm_workspace_floats(int M, int K) {
    if (M <= 0 || K <= 0) return 0;
    /* rows padded to a multiple of every path's micro-tile rows (8, 6, 4) */
    size_t m = ((size_t)M + 23) / 24 * 24, k = (size_t)K;
    if (m > TT_GEMM_MC_T) m = TT_GEMM_MC_T;
    if (k > TT_GEMM_KC) k = TT_GEMM_KC;
    return (m * k + 15) / 16 * 16;
}

void tt_gemm_workspace_set(float *ws, size_t floats) {
    ws_base = floats ? ws : NULL;
    ws_floats = ws ? floats : 0;
}

float *tt_gemm_workspace(size_t *floats) {
    *floats = ws_floats;
    return ws_base;
}
