/*
 * src/dist_internal.h — the collectives tt_train needs from a tt_dist (see
 * tt/dist.h). A NULL dist (or one of size 1) makes each of them a no-op that
 * returns TT_OK, so the training loop calls them unconditionally.
 *
 * Every call is a collective: every rank must make the same calls in the
 * same order. Each waits at most the dist's timeout (TT_ERR_COMM past it).
 */
#ifndef TT_DIST_INTERNAL_H
#define TT_DIST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "tt/dist.h"

/* v[0..n) <- the sum over ranks, added in rank order (identical bits on
 * every rank). what names the operation in a timeout message. */
tt_status tt_dist_sum_doubles(tt_dist *d, double *v, int n, const char *what, tt_error *err);
/* *v <- the largest non-zero value passed by any rank (0 when every rank
 * passes 0): a stop request and its signal number. */
tt_status tt_dist_max_nonzero(tt_dist *d, int *v, const char *what, tt_error *err);
/* buf[0..bytes) <- rank 0's bytes. */
tt_status tt_dist_bcast(tt_dist *d, void *buf, size_t bytes, const char *what, tt_error *err);

/* While on, a wait gives up only at the timeout, not 0.5 s after a signal:
 * set once a stop is agreed and while the others wait for rank 0's writes
 * (a checkpoint may take longer than the grace to write). */
void tt_dist_set_patient(tt_dist *d, bool on);
/* This rank failed alone (its peers will wait for it in the next collective):
 * the job must end with tt_dist_abort, not MPI_Finalize (tt_dist_broken). */
void tt_dist_mark_broken(tt_dist *d);

/* Averaging the gradient block grads[0..n) over the ranks, in buckets:
 *     tt_grad_sync_begin(s);
 *     ... backward calls tt_grad_sync_ready(s, lo, hi) as ranges become final ...
 *     tt_grad_sync_finish(s, &err);     // grads = (g_0 + g_1 + ... ) / N
 * With the dist's overlap on, a bucket's reduction starts as soon as enough
 * of the block is final and progresses at every later ready call; without
 * it, one reduction of the whole block runs in finish. The sum of each
 * element is computed by one rank in rank order whatever the buckets, so the
 * result is the same bits on every rank and with or without overlap. */
typedef struct tt_grad_sync tt_grad_sync;
tt_status tt_grad_sync_create(tt_grad_sync **out, tt_dist *d, float *grads, size_t n,
                              tt_error *err);
void tt_grad_sync_free(tt_grad_sync *s);
void tt_grad_sync_begin(tt_grad_sync *s);
/* grads[lo..hi) will not change again this step. */
void tt_grad_sync_ready(tt_grad_sync *s, size_t lo, size_t hi);
tt_status tt_grad_sync_finish(tt_grad_sync *s, tt_error *err);

#endif /* TT_DIST_INTERNAL_H */
