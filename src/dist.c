/*
 * Data-parallel collectives over MPI with a deadline; see tt/dist.h and
 * src/dist_internal.h. The only file that includes <mpi.h>: built without
 * MPI (TT_HAVE_MPI undefined) it keeps the API and refuses tt_dist_init.
 *
 * Why not MPI_Allreduce for the gradients: MPI leaves the order of a
 * reduction to the implementation (it may differ between message sizes,
 * process counts, libraries, or even give ranks different bits), and a
 * blocking collective waits forever for a dead peer. So each bucket is
 * reduced in two non-blocking steps with a fixed order: MPI_Ialltoallv sends
 * slice j of every rank's gradients to rank j, which adds them in rank order
 * (g_0 + g_1 + ... + g_{N-1}) and scales by 1/N; MPI_Iallgatherv sends the
 * slices back. That moves 2 (N-1)/N of the block per rank, as a ring
 * allreduce does. Every wait polls MPI_Test* against the dist's deadline.
 */
#include "tt/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi.h"
#include "common_internal.h"
#include "dist_internal.h"

tt_dist_config tt_dist_config_default(void) {
    tt_dist_config c;
    memset(&c, 0, sizeof c);
    c.struct_size = sizeof c;
    c.timeout_s = 300.0;
    c.overlap = true;
    return c;
}

static const char *const LAUNCHER_SIZE_VARS[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                                 "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS"};
static const char *const LAUNCHER_RANK_VARS[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK",
                                                 "MV2_COMM_WORLD_RANK", "SLURM_PROCID"};

static int env_int(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) return -1;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > 1 << 24) return -1;
    return (int)x;
}

int tt_dist_launcher_size(const char **var) {
    for (size_t i = 0; i < sizeof LAUNCHER_SIZE_VARS / sizeof *LAUNCHER_SIZE_VARS; i++) {
        int n = env_int(LAUNCHER_SIZE_VARS[i]);
        if (n >= 1) {
            if (var) *var = LAUNCHER_SIZE_VARS[i];
            return n;
        }
    }
    if (var) *var = NULL;
    return 0;
}

int tt_dist_launcher_rank(void) {
    for (size_t i = 0; i < sizeof LAUNCHER_SIZE_VARS / sizeof *LAUNCHER_SIZE_VARS; i++) {
        if (env_int(LAUNCHER_SIZE_VARS[i]) >= 1) {
            int r = env_int(LAUNCHER_RANK_VARS[i]);
            return r >= 0 ? r : 0;
        }
    }
    return 0;
}

#ifndef TT_HAVE_MPI

/* ---- built without MPI: one process ------------------------------------- */

struct tt_dist {
    int unused;
};
struct tt_grad_sync {
    int unused;
};

bool tt_dist_built_with_mpi(void) { return false; }
const char *tt_dist_mpi_version(void) { return "none"; }

tt_status tt_dist_init(tt_dist **out, const tt_dist_config *cfg, tt_error *err) {
    (void)cfg;
    if (!out) return tt_error_set(err, TT_ERR_ARG, "dist init: out is NULL");
    *out = NULL;
    return tt_error_set(
        err, TT_ERR_STATE,
        "this build of tiny-transformer has no MPI (install libopenmpi-dev, e.g. with "
        "scripts/deps.sh test, and rebuild)");
}
void tt_dist_free(tt_dist *d) { (void)d; }
bool tt_dist_broken(const tt_dist *d) {
    (void)d;
    return false;
}
void tt_dist_mark_broken(tt_dist *d) { (void)d; }
void tt_dist_set_patient(tt_dist *d, bool on) {
    (void)d;
    (void)on;
}
void tt_dist_abort(tt_dist *d, int code) {
    (void)d;
    (void)code;
}
int tt_dist_rank(const tt_dist *d) {
    (void)d;
    return 0;
}
int tt_dist_size(const tt_dist *d) {
    (void)d;
    return 1;
}
double tt_dist_comm_seconds(const tt_dist *d) {
    (void)d;
    return 0.0;
}
tt_status tt_dist_agree(tt_dist *d, tt_status mine, const tt_error *mine_err, tt_error *err) {
    (void)d;
    if (mine != TT_OK && err && mine_err && err != mine_err) *err = *mine_err;
    return mine;
}
tt_status tt_dist_check_same(tt_dist *d, uint64_t value, const char *what, tt_error *err) {
    (void)d;
    (void)value;
    (void)what;
    (void)err;
    return TT_OK;
}
tt_status tt_dist_sum_doubles(tt_dist *d, double *v, int n, const char *what, tt_error *err) {
    (void)d;
    (void)v;
    (void)n;
    (void)what;
    (void)err;
    return TT_OK;
}
tt_status tt_dist_max_nonzero(tt_dist *d, int *v, const char *what, tt_error *err) {
    (void)d;
    (void)v;
    (void)what;
    (void)err;
    return TT_OK;
}
tt_status tt_dist_bcast(tt_dist *d, void *buf, size_t bytes, const char *what, tt_error *err) {
    (void)d;
    (void)buf;
    (void)bytes;
    (void)what;
    (void)err;
    return TT_OK;
}
tt_status tt_grad_sync_create(tt_grad_sync **out, tt_dist *d, float *grads, size_t n,
                              tt_error *err) {
    (void)d;
    (void)grads;
    (void)n;
    (void)err;
    if (out) *out = NULL;
    return TT_OK;
}
void tt_grad_sync_free(tt_grad_sync *s) { (void)s; }
void tt_grad_sync_begin(tt_grad_sync *s) { (void)s; }
void tt_grad_sync_ready(tt_grad_sync *s, size_t lo, size_t hi) {
    (void)s;
    (void)lo;
    (void)hi;
}
tt_status tt_grad_sync_finish(tt_grad_sync *s, tt_error *err) {
    (void)s;
    (void)err;
    return TT_OK;
}

#else /* TT_HAVE_MPI */

#include <mpi.h>
#include <sched.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct tt_dist {
    MPI_Comm comm;           /* the small collectives (one at a time) */
    MPI_Comm comm_x, comm_g; /* the buckets' slice exchanges and gathers (see progress) */
    int rank, size;
    double timeout_s;
    bool overlap;
    bool we_initialised; /* tt_dist_init called MPI_Init_thread */
    bool broken;         /* a collective failed or timed out, or this rank left the others
                            waiting: never finalise */
    bool patient;        /* a signal does not shorten a wait (tt_dist_set_patient) */
    double comm_s;       /* seconds inside collectives */
    int (*interrupted)(void *user);
    void *interrupted_user;
};

bool tt_dist_built_with_mpi(void) { return true; }

const char *tt_dist_mpi_version(void) {
    static char buf[MPI_MAX_LIBRARY_VERSION_STRING + 1];
    int len = 0;
    if (buf[0]) return buf;
    if (MPI_Get_library_version(buf, &len) != MPI_SUCCESS) return "MPI";
    buf[len < (int)sizeof buf - 1 ? len : (int)sizeof buf - 1] = '\0';
    char *nl = strchr(buf, '\n'); /* Open MPI's string has several lines */
    if (nl) *nl = '\0';
    char *comma = strchr(buf, ','); /* "Open MPI v4.1.4, package: ..." */
    if (comma) *comma = '\0';
    return buf;
}

tt_status tt_dist_init(tt_dist **out, const tt_dist_config *cfg, tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "dist init: out is NULL");
    *out = NULL;
    tt_dist_config c = tt_dist_config_default();
    if (cfg) {
        const tt_status st =
            tt_struct_in(&c, sizeof c, cfg, TT_DIST_CONFIG_SIZE_0, "dist config", err);
        if (st != TT_OK) return st;
    }
    if (!(c.timeout_s > 0.0))
        return tt_error_set(err, TT_ERR_ARG, "dist init: timeout_s must be > 0, got %g",
                            c.timeout_s);
    int fin = 0, init = 0;
    MPI_Finalized(&fin);
    if (fin) return tt_error_set(err, TT_ERR_STATE, "dist init: MPI was already finalised");
    MPI_Initialized(&init);
    tt_dist *d = calloc(1, sizeof *d);
    if (!d) return tt_error_set(err, TT_ERR_NOMEM, "dist init: out of memory");
    if (!init) {
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            free(d);
            return tt_error_set(err, TT_ERR_COMM, "MPI_Init_thread failed");
        }
        d->we_initialised = true;
    }
    if (MPI_Comm_dup(MPI_COMM_WORLD, &d->comm) != MPI_SUCCESS ||
        MPI_Comm_dup(MPI_COMM_WORLD, &d->comm_x) != MPI_SUCCESS ||
        MPI_Comm_dup(MPI_COMM_WORLD, &d->comm_g) != MPI_SUCCESS) {
        if (d->we_initialised) MPI_Finalize();
        free(d);
        return tt_error_set(err, TT_ERR_COMM, "MPI_Comm_dup failed");
    }
    /* errors come back as values (the default handler aborts the job) */
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(d->comm_x, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(d->comm_g, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    d->timeout_s = c.timeout_s;
    d->overlap = c.overlap;
    d->interrupted = c.interrupted;
    d->interrupted_user = c.interrupted_user;
    *out = d;
    tt_error_clear(err);
    return TT_OK;
}

void tt_dist_free(tt_dist *d) {
    if (!d) return;
    if (!d->broken) {
        MPI_Comm_free(&d->comm);
        MPI_Comm_free(&d->comm_x);
        MPI_Comm_free(&d->comm_g);
        if (d->we_initialised) MPI_Finalize();
    }
    free(d);
}

bool tt_dist_broken(const tt_dist *d) { return d && d->broken; }
void tt_dist_mark_broken(tt_dist *d) {
    if (d) d->broken = true;
}
void tt_dist_set_patient(tt_dist *d, bool on) {
    if (d) d->patient = on;
}

void tt_dist_abort(tt_dist *d, int code) {
    if (!d) return;
    MPI_Abort(d->comm, code);
}

int tt_dist_rank(const tt_dist *d) { return d ? d->rank : 0; }
int tt_dist_size(const tt_dist *d) { return d ? d->size : 1; }
double tt_dist_comm_seconds(const tt_dist *d) { return d ? d->comm_s : 0.0; }

static tt_status mpi_fail(tt_dist *d, int rc, const char *what, tt_error *err) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    d->broken = true;
    return tt_error_set(err, TT_ERR_COMM, "rank %d of %d: %s failed: %s", d->rank, d->size, what,
                        msg);
}

/* Lets a waiting rank give its core to a computing one (ranks may share
 * cores): spin briefly, then yield, then sleep in short naps. */
static void backoff(long polls) {
    if (polls < 64) return;
    if (polls < 2048) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, 50000}; /* 50 us */
    nanosleep(&ts, NULL);
}

#define INTERRUPT_GRACE_S 0.5

/* The deadline check of a wait that started at t0: TT_OK to keep waiting.
 * *t_sig is when an interrupt was first seen (0: none yet). A patient dist
 * (a stop was agreed, or the others wait for rank 0's writes, which may take
 * long) ignores signals: a signal sent to every rank must not make one of
 * them give up on a peer that is only busy saving; only the timeout ends
 * such a wait. */
static tt_status deadline(tt_dist *d, double t0, double *t_sig, const char *what, tt_error *err) {
    const double t = now_s();
    if (t - t0 > d->timeout_s) {
        d->broken = true;
        return tt_error_set(
            err, TT_ERR_COMM,
            "rank %d of %d: %s did not complete within %g s: another process of the job died "
            "or hangs (--comm-timeout)",
            d->rank, d->size, what, d->timeout_s);
    }
    if (d->patient) return TT_OK;
    if (d->interrupted && *t_sig == 0.0 && d->interrupted(d->interrupted_user)) *t_sig = t;
    if (*t_sig > 0.0 && t - *t_sig > INTERRUPT_GRACE_S) {
        d->broken = true;
        return tt_error_set(
            err, TT_ERR_COMM,
            "rank %d of %d: a signal arrived while waiting for %s, which did not complete: "
            "another process of the job has probably died",
            d->rank, d->size, what);
    }
    return TT_OK;
}

/* Polls n requests until all complete or the deadline passes. */
static tt_status wait_all(tt_dist *d, MPI_Request *req, int n, const char *what, tt_error *err) {
    const double t0 = now_s();
    double t_sig = 0.0;
    for (long polls = 0;; polls++) {
        int done = 0;
        int rc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what, err);
        if (done) break;
        tt_status st = deadline(d, t0, &t_sig, what, err);
        if (st != TT_OK) return st;
        backoff(polls);
    }
    d->comm_s += now_s() - t0;
    return TT_OK;
}

#define AGREE_MSG TT_ERROR_MSG_MAX

typedef struct {
    int32_t status;
    char msg[AGREE_MSG];
} agree_rec;

tt_status tt_dist_agree(tt_dist *d, tt_status mine, const tt_error *mine_err, tt_error *err) {
    if (!d || d->size == 1) {
        if (mine != TT_OK && err && mine_err && err != mine_err) *err = *mine_err;
        return mine;
    }
    agree_rec me, *all = malloc((size_t)d->size * sizeof *all);
    if (!all) return tt_error_set(err, TT_ERR_NOMEM, "out of memory");
    memset(&me, 0, sizeof me);
    me.status = (int32_t)mine;
    if (mine != TT_OK) {
        const char *msg = mine_err ? mine_err->msg : tt_status_str(mine);
        size_t n = strnlen(msg, AGREE_MSG - 1);
        memcpy(me.msg, msg, n);
        me.msg[n] = '\0';
    }
    MPI_Request req;
    int rc =
        MPI_Iallgather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE, d->comm, &req);
    tt_status st = rc != MPI_SUCCESS ? mpi_fail(d, rc, "agreeing on the outcome", err)
                                     : wait_all(d, &req, 1, "agreeing on the outcome", err);
    if (st == TT_OK) {
        for (int r = 0; r < d->size; r++) {
            if (all[r].status == TT_OK) continue;
            all[r].msg[AGREE_MSG - 1] = '\0';
            st = (tt_status)all[r].status;
            if (st <= TT_OK || st >= TT_STATUS_COUNT_) st = TT_ERR_STATE;
            if (d->size > 1) tt_error_set(err, st, "rank %d: %s", r, all[r].msg);
            break;
        }
    }
    free(all);
    return st;
}

tt_status tt_dist_check_same(tt_dist *d, uint64_t value, const char *what, tt_error *err) {
    if (!d || d->size == 1) return TT_OK;
    uint64_t *all = malloc((size_t)d->size * sizeof *all);
    if (!all) return tt_error_set(err, TT_ERR_NOMEM, "out of memory");
    MPI_Request req;
    int rc = MPI_Iallgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, d->comm, &req);
    tt_status st = rc != MPI_SUCCESS ? mpi_fail(d, rc, "comparing values", err)
                                     : wait_all(d, &req, 1, "comparing values", err);
    for (int r = 1; st == TT_OK && r < d->size; r++)
        if (all[r] != all[0])
            st = tt_error_set(
                err, TT_ERR_ARG,
                "%s differs between processes: rank %d has %016llx, rank 0 has %016llx", what, r,
                (unsigned long long)all[r], (unsigned long long)all[0]);
    free(all);
    return st;
}

tt_status tt_dist_sum_doubles(tt_dist *d, double *v, int n, const char *what, tt_error *err) {
    if (!d || d->size == 1 || n <= 0) return TT_OK;
    double *all = malloc((size_t)d->size * (size_t)n * sizeof *all);
    if (!all) return tt_error_set(err, TT_ERR_NOMEM, "out of memory");
    MPI_Request req;
    int rc = MPI_Iallgather(v, n, MPI_DOUBLE, all, n, MPI_DOUBLE, d->comm, &req);
    tt_status st = rc != MPI_SUCCESS ? mpi_fail(d, rc, what, err) : wait_all(d, &req, 1, what, err);
    if (st == TT_OK)
        for (int i = 0; i < n; i++) {
            double s = all[i];
            for (int r = 1; r < d->size; r++)
                s += all[(size_t)r * n + i];
            v[i] = s;
        }
    free(all);
    return st;
}

tt_status tt_dist_max_nonzero(tt_dist *d, int *v, const char *what, tt_error *err) {
    if (!d || d->size == 1) return TT_OK;
    int *all = malloc((size_t)d->size * sizeof *all);
    if (!all) return tt_error_set(err, TT_ERR_NOMEM, "out of memory");
    MPI_Request req;
    int rc = MPI_Iallgather(v, 1, MPI_INT, all, 1, MPI_INT, d->comm, &req);
    tt_status st = rc != MPI_SUCCESS ? mpi_fail(d, rc, what, err) : wait_all(d, &req, 1, what, err);
    if (st == TT_OK) {
        int best = 0;
        for (int r = 0; r < d->size; r++)
            if (all[r] != 0 && (best == 0 || all[r] > best)) best = all[r];
        *v = best;
    }
    free(all);
    return st;
}

tt_status tt_dist_bcast(tt_dist *d, void *buf, size_t bytes, const char *what, tt_error *err) {
    if (!d || d->size == 1) return TT_OK;
    const size_t piece = (size_t)1 << 30;
    for (size_t off = 0; off < bytes; off += piece) {
        int n = (int)(bytes - off < piece ? bytes - off : piece);
        MPI_Request req;
        int rc = MPI_Ibcast((char *)buf + off, n, MPI_BYTE, 0, d->comm, &req);
        tt_status st =
            rc != MPI_SUCCESS ? mpi_fail(d, rc, what, err) : wait_all(d, &req, 1, what, err);
        if (st != TT_OK) return st;
    }
    return TT_OK;
}

/* ---- gradient buckets ----------------------------------------------------- */

#define BUCKET_MIN                                                                                 \
    ((size_t)1 << 14) /* floats (64 KiB): smaller ready ranges wait for the next ones */
#define BUCKET_MAX ((size_t)1 << 26) /* floats: keeps MPI's int counts in range */

typedef struct {
    size_t lo, hi;          /* the bucket: grads[lo..hi) */
    int *counts, *displs;   /* [N] slice j = [lo + displs[j], + counts[j]) */
    int *rcounts, *rdispls; /* [N] where every rank's copy of my slice lands in recv */
    float *recv;            /* [N, counts[rank]] every rank's copy of my slice */
    int phase;              /* 0 idle, 1 exchanging slices, 2 gathering sums, 3 done */
    MPI_Request req;
} bucket;

struct tt_grad_sync {
    tt_dist *d;
    float *grads;
    size_t n;
    bucket *b;
    int n_b, cap_b, used;    /* buckets known, allocated, started this step */
    size_t pend_lo, pend_hi; /* final but not yet started: [pend_lo, pend_hi) */
    int rc;                  /* the first MPI error while progressing (MPI_SUCCESS: none) */
    const char *rc_what;
};

tt_status tt_grad_sync_create(tt_grad_sync **out, tt_dist *d, float *grads, size_t n,
                              tt_error *err) {
    if (!out) return tt_error_set(err, TT_ERR_ARG, "grad sync: out is NULL");
    *out = NULL;
    if (!d || d->size == 1) return TT_OK;
    tt_grad_sync *s = calloc(1, sizeof *s);
    if (!s) return tt_error_set(err, TT_ERR_NOMEM, "out of memory");
    s->d = d;
    s->grads = grads;
    s->n = n;
    s->rc = MPI_SUCCESS;
    *out = s;
    return TT_OK;
}

void tt_grad_sync_begin(tt_grad_sync *s) {
    if (!s) return;
    s->used = 0;
    s->pend_lo = s->pend_hi = 0;
    for (int i = 0; i < s->n_b; i++)
        s->b[i].phase = 0;
}

static void bucket_release(bucket *b) {
    free(b->counts);
    free(b->displs);
    free(b->rcounts);
    free(b->rdispls);
    free(b->recv);
    memset(b, 0, sizeof *b);
}

void tt_grad_sync_free(tt_grad_sync *s) {
    if (!s) return;
    for (int i = 0; i < s->n_b; i++)
        bucket_release(&s->b[i]);
    free(s->b);
    free(s);
}

/* The used-th bucket of this step, (re)shaped for [lo, hi): the same ranges
 * come every step, so the buffers are set up once. */
static bucket *bucket_for(tt_grad_sync *s, size_t lo, size_t hi) {
    const int N = s->d->size, me = s->d->rank;
    if (s->used == s->cap_b) {
        int cap = s->cap_b ? 2 * s->cap_b : 16;
        bucket *nb = realloc(s->b, (size_t)cap * sizeof *nb);
        if (!nb) return NULL;
        memset(nb + s->cap_b, 0, (size_t)(cap - s->cap_b) * sizeof *nb);
        s->b = nb;
        s->cap_b = cap;
    }
    bucket *b = &s->b[s->used];
    if (s->used < s->n_b && b->lo == lo && b->hi == hi && b->counts) return b;
    bucket_release(b);
    b->lo = lo;
    b->hi = hi;
    b->counts = malloc((size_t)N * sizeof *b->counts);
    b->displs = malloc((size_t)N * sizeof *b->displs);
    b->rcounts = malloc((size_t)N * sizeof *b->rcounts);
    b->rdispls = malloc((size_t)N * sizeof *b->rdispls);
    if (s->used >= s->n_b) s->n_b = s->used + 1;
    if (!b->counts || !b->displs || !b->rcounts || !b->rdispls) {
        bucket_release(b);
        return NULL;
    }
    const size_t len = hi - lo;
    for (int j = 0; j < N; j++) {
        size_t a = len * (size_t)j / (size_t)N, z = len * (size_t)(j + 1) / (size_t)N;
        b->displs[j] = (int)a;
        b->counts[j] = (int)(z - a);
    }
    const int cme = b->counts[me];
    for (int r = 0; r < N; r++) {
        b->rcounts[r] = cme;
        b->rdispls[r] = r * cme;
    }
    b->recv = malloc(((size_t)N * (size_t)cme + 1) * sizeof(float));
    if (!b->recv) {
        bucket_release(b);
        return NULL;
    }
    return b;
}

static void note_rc(tt_grad_sync *s, int rc, const char *what) {
    if (rc != MPI_SUCCESS && s->rc == MPI_SUCCESS) {
        s->rc = rc;
        s->rc_what = what;
    }
}

static void start_bucket(tt_grad_sync *s, size_t lo, size_t hi) {
    while (hi - lo > BUCKET_MAX) { /* split from the top, as ranges arrive */
        start_bucket(s, hi - BUCKET_MAX, hi);
        hi -= BUCKET_MAX;
    }
    bucket *b = bucket_for(s, lo, hi);
    if (!b) {
        note_rc(s, MPI_ERR_NO_MEM, "allocating a gradient bucket");
        return;
    }
    s->used++;
    int rc = MPI_Ialltoallv(s->grads + lo, b->counts, b->displs, MPI_FLOAT, b->recv, b->rcounts,
                            b->rdispls, MPI_FLOAT, s->d->comm_x, &b->req);
    note_rc(s, rc, "exchanging gradient slices");
    b->phase = rc == MPI_SUCCESS ? 1 : 3;
}

/* Moves every started bucket on: a finished exchange is summed (rank order)
 * and its gather started. MPI requires every rank to start non-blocking
 * collectives on a communicator in the same order, and when an exchange
 * completes depends on timing: so the exchanges run on comm_x (started in
 * bucket order as ranges become ready, the same on every rank), the gathers
 * on comm_g, started in bucket order too (a bucket's gather waits for the
 * gathers of the buckets before it to have started). */
static void progress(tt_grad_sync *s) {
    const int N = s->d->size, me = s->d->rank;
    const float inv = 1.0f / (float)N;
    bool in_order = true; /* every bucket before i has started its gather */
    for (int i = 0; i < s->used; i++) {
        bucket *b = &s->b[i];
        bool may_gather = in_order;
        if (b->phase < 2) in_order = false;
        if (b->phase != 1 && b->phase != 2) continue;
        if (b->phase == 1 && !may_gather) continue;
        int done = 0;
        int rc = MPI_Test(&b->req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            note_rc(s, rc,
                    b->phase == 1 ? "exchanging gradient slices" : "gathering averaged gradients");
            b->phase = 3;
            continue;
        }
        if (!done) continue;
        if (b->phase == 2) {
            b->phase = 3;
            continue;
        }
        const size_t c = (size_t)b->counts[me];
        float *dst = s->grads + b->lo + b->displs[me];
        for (size_t k = 0; k < c; k++) {
            float acc = b->recv[k];
            for (int r = 1; r < N; r++)
                acc += b->recv[(size_t)r * c + k];
            dst[k] = acc * inv;
        }
        rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, s->grads + b->lo, b->counts,
                             b->displs, MPI_FLOAT, s->d->comm_g, &b->req);
        note_rc(s, rc, "gathering averaged gradients");
        b->phase = rc == MPI_SUCCESS ? 2 : 3;
        in_order = b->phase >= 2;
    }
}

void tt_grad_sync_ready(tt_grad_sync *s, size_t lo, size_t hi) {
    if (!s || lo >= hi) return;
    if (!s->d->overlap) return; /* one bucket in finish */
    const double t0 = now_s();
    if (s->pend_lo != s->pend_hi && hi != s->pend_lo) { /* not adjacent: flush */
        start_bucket(s, s->pend_lo, s->pend_hi);
        s->pend_lo = s->pend_hi = 0;
    }
    if (s->pend_lo == s->pend_hi) s->pend_hi = hi;
    s->pend_lo = lo;
    if (s->pend_hi - s->pend_lo >= BUCKET_MIN) {
        start_bucket(s, s->pend_lo, s->pend_hi);
        s->pend_lo = s->pend_hi = 0;
    }
    progress(s);
    s->d->comm_s += now_s() - t0;
}

tt_status tt_grad_sync_finish(tt_grad_sync *s, tt_error *err) {
    if (!s) return TT_OK;
    tt_dist *d = s->d;
    const double t0 = now_s();
    if (!d->overlap) {
        start_bucket(s, 0, s->n);
    } else if (s->pend_lo != s->pend_hi) {
        start_bucket(s, s->pend_lo, s->pend_hi);
        s->pend_lo = s->pend_hi = 0;
    }
    tt_status st = TT_OK;
    double t_sig = 0.0;
    for (long polls = 0;; polls++) {
        progress(s);
        if (s->rc != MPI_SUCCESS) {
            st = mpi_fail(d, s->rc, s->rc_what, err);
            break;
        }
        bool all = true;
        for (int i = 0; i < s->used && all; i++)
            all = s->b[i].phase == 3;
        if (all) break;
        if ((st = deadline(d, t0, &t_sig, "the gradient average", err)) != TT_OK) break;
        backoff(polls);
    }
    d->comm_s += now_s() - t0;
    return st;
}

#endif /* TT_HAVE_MPI */
