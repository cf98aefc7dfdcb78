/*
 * tt/dist.h — data-parallel training over MPI processes (one or many hosts).
 *
 *     // launched as `mpirun -np 4 ./app`
 *     tt_dist *d = NULL;
 *     if (tt_dist_launcher_size(NULL) > 1 && tt_dist_init(&d, NULL, &err) != TT_OK) ...;
 *     tt_train_config tc = tt_train_config_default();
 *     tc.dist = d;                     // batch_size stays the GLOBAL batch
 *     st = tt_train(m, tok, ids, n, vids, nv, &tc, cb, user, &res, &err);
 *     if (tt_dist_broken(d)) tt_dist_abort(d, 1);   // a peer died or hangs, or this rank failed alone
 *     tt_dist_free(d);
 *
 * What tt_train does with a dist of N processes (docs/distributed.md): every
 * rank draws the same global batch of B windows and trains on its contiguous
 * share of B / N rows; the gradients are summed in rank order (rank 0 + rank
 * 1 + ...) by the owner of each slice and sent back, so every rank holds the
 * same bits and the result never depends on timing; clipping and AdamW then
 * run identically everywhere. Rank 0 alone writes files.
 *
 * Every collective waits at most `timeout_s`; past it (a process died, hangs
 * or the network broke) the call fails with TT_ERR_COMM naming the operation,
 * and the dist is broken: call tt_dist_abort() to end the whole job (MPI
 * cannot finish a collective with a dead peer, so MPI_Finalize would hang).
 *
 * Without MPI at build time (tt_dist_built_with_mpi() false) tt_dist_init
 * fails with TT_ERR_STATE and everything else treats a NULL dist as one
 * process. Thread safety: a dist is used by one thread (the one that called
 * tt_dist_init; MPI is initialised with MPI_THREAD_FUNNELED).
 */
#ifndef TT_DIST_H
#define TT_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    size_t struct_size; /* sizeof this struct, set by tt_dist_config_default(): keep it
                           (docs/embedding.md#abi-policy) */
    double
        timeout_s; /* 300: the longest any collective may wait (it must cover a checkpoint save) */
    bool overlap;  /* true: reduce each layer's gradients while backward continues below it */
    /* NULL, or polled while a collective waits: once it returns non-zero
     * (a signal arrived) a wait of the training steps gives up after 0.5 s
     * more with TT_ERR_COMM. A launcher that sees a process die signals the
     * others (mpirun: SIGTERM, then SIGKILL a second later); healthy peers
     * finish a step's collective well within the grace. Once a stop is
     * agreed, and while the ranks wait for rank 0's writes, tt_train's waits
     * ignore it (only timeout_s applies), so a signal sent to every rank
     * still saves however long the save takes. */
    int (*interrupted)(void *user);
    void *interrupted_user;
} tt_dist_config;

TT_API tt_dist_config tt_dist_config_default(void);

typedef struct tt_dist tt_dist;

/* True when the library was built with MPI. */
TT_API bool tt_dist_built_with_mpi(void);

/* The number of processes a launcher started, read from its environment
 * (OMPI_COMM_WORLD_SIZE, PMI_SIZE, MV2_COMM_WORLD_SIZE, SLURM_STEP_NUM_TASKS);
 * 0 when none is set. *var (may be NULL) receives the variable's name. */
TT_API int tt_dist_launcher_size(const char **var);
/* This process's rank from the same environment; 0 when none is set. */
TT_API int tt_dist_launcher_rank(void);

/* Initialises MPI (unless the application already did; then it is not
 * finalised by tt_dist_free) and duplicates MPI_COMM_WORLD. cfg may be NULL
 * (defaults). @return TT_OK, TT_ERR_ARG (NULL out, timeout_s not > 0),
 * TT_ERR_STATE (built without MPI, or MPI already finalised), TT_ERR_COMM
 * (MPI failed to start), TT_ERR_NOMEM. */
TT_API tt_status tt_dist_init(tt_dist **out, const tt_dist_config *cfg, tt_error *err);
/* Finalises MPI when tt_dist_init initialised it and no collective failed.
 * NULL-safe. */
TT_API void tt_dist_free(tt_dist *d);
/* True when this process must not finalise MPI: a collective failed or
 * timed out (TT_ERR_COMM), or tt_train failed on this process alone (an error
 * its peers did not take part in, so they still wait for it). End the job
 * with tt_dist_abort then. False for a NULL dist. */
TT_API bool tt_dist_broken(const tt_dist *d);
/* Ends every process of the job with exit status code (MPI_Abort). For a
 * NULL dist or a build without MPI it does nothing. */
TT_API void tt_dist_abort(tt_dist *d, int code);

/* Rank and size; 0 and 1 for a NULL dist. */
TT_API int tt_dist_rank(const tt_dist *d);
TT_API int tt_dist_size(const tt_dist *d);
/* The MPI library's version line (static string; "none" without MPI). */
TT_API const char *tt_dist_mpi_version(void);

/* A collective agreement on a local outcome: every rank passes its own
 * status (and its error, may be NULL when mine is TT_OK); the call returns
 * TT_OK on every rank when all passed TT_OK, else the status of the lowest
 * failing rank, with err set to "rank R: <its message>" on every rank.
 * A NULL dist returns mine (and copies mine_err). @return also TT_ERR_COMM
 * (a peer does not answer). */
TT_API tt_status tt_dist_agree(tt_dist *d, tt_status mine, const tt_error *mine_err, tt_error *err);

/* Checks that every rank passes the same value (a hash, a size);
 * @return TT_OK, TT_ERR_ARG "<what> differs between processes: rank R has
 * X, rank 0 has Y", TT_ERR_COMM. */
TT_API tt_status tt_dist_check_same(tt_dist *d, uint64_t value, const char *what, tt_error *err);

/* Seconds this process spent inside collectives (waiting included) since
 * tt_dist_init; 0 for a NULL dist. */
TT_API double tt_dist_comm_seconds(const tt_dist *d);

#ifdef __cplusplus
}
#endif
#endif /* TT_DIST_H */
