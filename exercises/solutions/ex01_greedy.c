/*
 * Exercise 01 — greedy sampling: reference solution.
 *
 * Why the exercise matters is in the header of its stub, exercises/ex01_greedy.c,
 * and in docs/learners-guide.md; the comments below explain this code.
 *
 * Shapes: logits [B, V] row-major (row b starts at logits + b * V), out [B].
 */
#include <stddef.h>

#include "exercises.h"

tt_status ex01_greedy(const float *logits, int B, int V, int *out)
{
    /* Validate before touching memory: a library function never trusts its
     * caller, and says what is wrong through the status. */
    if (!logits || !out || B < 1 || V < 1)
        return TT_ERR_ARG;

    for (int b = 0; b < B; b++) {
        const float *row = logits + (size_t)b * (size_t)V; /* [V] */
        int best = 0;
        /* Strictly greater: on a tie the first (lowest) id stays, which is
         * what torch.argmax does and what our library documents. */
        for (int v = 1; v < V; v++)
            if (row[v] > row[best])
                best = v;
        out[b] = best;
    }
    return TT_OK;
}
