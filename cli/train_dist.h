/*
 * cli/train_dist.h — what `tt train` does when a launcher (mpirun, srun)
 * started it as one of N processes: start MPI (or say that this tt has
 * none), pick threads per rank, agree on set-up failures so that no rank
 * waits for one that gave up, and end the job cleanly or abort it.
 * docs/distributed.md describes the behaviour.
 */
#ifndef TT_TOOLS_TRAIN_DIST_H
#define TT_TOOLS_TRAIN_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "tt/dist.h"

typedef struct {
    tt_dist *dist;    /* NULL: one process */
    int rank, size;   /* 0, 1 without a dist */
    int launch_size;  /* from the launcher's environment (0: none) */
    int saved_stderr; /* stderr while a rank > 0 parses (-1: not redirected) */
    bool pending;     /* the other ranks will wait for this rank's outcome at the next agreement */
} cli_dist;

/* Before parsing: on launcher ranks > 0 stderr is muted, because every rank
 * parses the same arguments and rank 0 reports their errors. */
void cli_dist_begin(cli_dist *cd);
/* After parsing (successful or not): stderr back. */
void cli_dist_parsed(cli_dist *cd);
/* Starts MPI when launched as N > 1 processes; a tt without MPI refuses
 * (rank 0 says why). @return CLI_EXIT_OK or the exit code. */
int cli_dist_start(cli_dist *cd, double timeout_s, bool overlap, int (*interrupted)(void *),
                   void *user);
/* Threads per rank when --threads is not given: all the CPUs this process
 * may run on, shared among the ranks of its host when the launcher did not
 * bind them. 0: leave the default. */
int cli_dist_default_threads(const cli_dist *cd);
/* Every rank passes its set-up outcome (an exit code); returns the job's:
 * CLI_EXIT_OK when every rank is ready, else the first failing rank's code
 * (rank 0 says which rank failed). Without a dist: rc. A rank that fails
 * between two agreements must still call it (cmd_train does on its way out,
 * while cd->pending) so that the others do not wait for it. */
int cli_dist_agree(cli_dist *cd, int rc);
/* Checks that every rank read the same bytes for a file (--data, --val-data).
 * @return CLI_EXIT_OK or CLI_EXIT_USAGE (rank 0 names the rank). */
int cli_dist_same_file(cli_dist *cd, const void *data, size_t n, const char *flag,
                       const char *path);
/* Ends the distributed part: after TT_ERR_COMM, or a failure of this rank
 * alone (tt_dist_broken: its peers wait for it), the job is aborted (a dead,
 * hung or waiting peer cannot finalise), else MPI is finalised. */
void cli_dist_end(cli_dist *cd, int status, int rc);

#endif /* TT_TOOLS_TRAIN_DIST_H */
