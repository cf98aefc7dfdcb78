/*
 * src/team.h — a small fork-join team of threads for the generator's decode
 * steps (internal).
 *
 * A decode step is a few hundred microseconds of work with five barriers a
 * layer, run hundreds of times a second. The team keeps its workers for the
 * generator's lifetime and bounds every wait: a worker or a barrier spins
 * for a few tens of microseconds, then sleeps (workers) or yields (barrier),
 * so that idle workers do not take CPU time from the calling thread and a
 * barrier whose partner the OS has descheduled gives way instead of burning
 * the core that partner may need (docs/generation.md, Threads).
 *
 *     tt_team *t; tt_team_create(&t, 2, &err);
 *     tt_team_run(t, fn, arg);      // fn(arg, tid, 2) on both threads
 *     ... inside fn: tt_team_barrier(t);
 *     tt_team_free(t);
 */
#ifndef TT_SRC_TEAM_H
#define TT_SRC_TEAM_H

#include <stdbool.h>

#include "tt/common.h"

typedef struct tt_team tt_team;

/* A team of n threads: the caller and n - 1 workers.
 * @return TT_OK, TT_ERR_ARG (n < 1), TT_ERR_NOMEM (memory or threads). */
tt_status tt_team_create(tt_team **out, int n, tt_error *err);

/* Stops and joins the workers. NULL-safe. */
void tt_team_free(tt_team *t);

/* Whether the team can run: true, except in a forked child that could not
 * start its own workers (the first use of a team in a forked child starts
 * them). Call it before tt_team_run when a team of more than one thread is
 * wanted; on false, run the work on the calling thread alone. NULL: false. */
bool tt_team_usable(tt_team *t);

/* Threads in the team. */
int tt_team_size(const tt_team *t);

/* Hot: idle workers stay awake (spinning, then yielding the CPU at each
 * check) so that the next run starts at once; cold (the default): after
 * about 60 us idle they sleep until the next run. Heating wakes sleepers. */
void tt_team_set_hot(tt_team *t, bool hot);

/* Runs fn(arg, tid, n) on every thread of the team (the caller is tid 0)
 * and returns when all have returned. Not reentrant. */
void tt_team_run(tt_team *t, void (*fn)(void *arg, int tid, int n), void *arg);

/* Inside fn: returns when every thread of the team has called it (the same
 * number of times); orders memory like a full fence. A team of one returns
 * at once. */
void tt_team_barrier(tt_team *t);

#endif /* TT_SRC_TEAM_H */
