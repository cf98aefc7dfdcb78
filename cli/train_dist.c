/* `tt train` under a launcher; see train_dist.h and docs/distributed.md. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "train_dist.h"

#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_dist_begin(cli_dist *cd) {
    memset(cd, 0, sizeof *cd);
    cd->size = 1;
    cd->saved_stderr = -1;
    cd->launch_size = tt_dist_launcher_size(NULL);
    if (cd->launch_size > 1 && tt_dist_launcher_rank() > 0) {
        fflush(stderr);
        int null_fd = open("/dev/null", O_WRONLY);
        cd->saved_stderr = null_fd >= 0 ? dup(STDERR_FILENO) : -1;
        if (cd->saved_stderr >= 0) dup2(null_fd, STDERR_FILENO);
        if (null_fd >= 0) close(null_fd);
    }
}

void cli_dist_parsed(cli_dist *cd) {
    if (cd->saved_stderr < 0) return;
    fflush(stderr);
    dup2(cd->saved_stderr, STDERR_FILENO);
    close(cd->saved_stderr);
    cd->saved_stderr = -1;
}

int cli_dist_start(cli_dist *cd, double timeout_s, bool overlap, int (*interrupted)(void *),
                   void *user) {
    const char *var = NULL;
    int n = tt_dist_launcher_size(&var);
    if (n <= 1) return CLI_EXIT_OK; /* no launcher, or one process: train alone */
    if (!tt_dist_built_with_mpi()) {
        if (tt_dist_launcher_rank() == 0)
            cli_fail("this tt was built without MPI, but was started as one of %d processes "
                     "(%s=%d): it would "
                     "train %d separate copies. Install Open MPI (scripts/deps.sh test), rebuild "
                     "(make clean "
                     "all), or run tt train without the launcher",
                     n, var, n, n);
        return CLI_EXIT_FAIL;
    }
    tt_dist_config dc = tt_dist_config_default();
    dc.timeout_s = timeout_s;
    dc.overlap = overlap;
    dc.interrupted = interrupted;
    dc.interrupted_user = user;
    tt_error err;
    if (tt_dist_init(&cd->dist, &dc, &err) != TT_OK) return cli_fail("MPI: %s", err.msg);
    cd->rank = tt_dist_rank(cd->dist);
    cd->size = tt_dist_size(cd->dist);
    cd->pending = true;
    if (cd->rank > 0) { /* rank 0 alone prints progress and results */
        fflush(stdout);
        if (!freopen("/dev/null", "w", stdout))
            return cli_fail("cannot redirect stdout of rank %d", cd->rank);
        static char label[64];
        snprintf(label, sizeof label, "%s (rank %d of %d)", cli_command ? cli_command : "train",
                 cd->rank, cd->size);
        cli_command = label;
    }
    return CLI_EXIT_OK;
}

static int env_pos(const char *name) {
    const char *v = getenv(name);
    int x = v ? atoi(v) : 0;
    return x > 0 ? x : 0;
}

int cli_dist_default_threads(const cli_dist *cd) {
    if (!cd->dist) return 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    int mine = CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (mine < 1) return 0;
    if (online > 0 && mine < online) return mine; /* bound by the launcher: use what it gave */
    int local = env_pos("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!local) local = env_pos("MPI_LOCALNRANKS");
    if (!local) local = env_pos("SLURM_NTASKS_PER_NODE");
    if (!local) local = cd->size;
    int t = mine / local;
    return t >= 1 ? t : 1;
}

int cli_dist_agree(cli_dist *cd, int rc) {
    if (!cd->dist) return rc;
    tt_error mine, all;
    tt_error_set(&mine, rc == CLI_EXIT_USAGE ? TT_ERR_ARG : TT_ERR_IO, "exit status %d", rc);
    tt_status st = tt_dist_agree(cd->dist, rc == CLI_EXIT_OK ? TT_OK : mine.code, &mine, &all);
    cd->pending = st == TT_OK;
    if (st == TT_OK) return CLI_EXIT_OK;
    if (st == TT_ERR_COMM) return cli_fail("%s", all.msg);
    if (cd->rank == 0 && rc == CLI_EXIT_OK)
        cli_fail("stopping every process: %s before training (its message is above)", all.msg);
    return st == TT_ERR_ARG ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

int cli_dist_same_file(cli_dist *cd, const void *data, size_t n, const char *flag,
                       const char *path) {
    if (!cd->dist) return CLI_EXIT_OK;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 of the length and the bytes */
    const unsigned char *p = data;
    for (size_t i = 0; i < sizeof n; i++)
        h = (h ^ (unsigned char)(n >> (8 * i))) * 0x100000001b3ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    tt_error err;
    tt_status st = tt_dist_check_same(cd->dist, h, flag, &err);
    if (st == TT_OK) return CLI_EXIT_OK;
    cd->pending = false; /* every rank saw it */
    if (st == TT_ERR_COMM) return cli_fail("%s", err.msg);
    if (cd->rank == 0)
        cli_usage_error(
            "%s: '%s' has different contents on different processes (FNV-1a hashes: %s); every "
            "rank must read the same file",
            flag, path, strstr(err.msg, "rank") ? strstr(err.msg, "rank") : err.msg);
    return CLI_EXIT_USAGE;
}

void cli_dist_end(cli_dist *cd, int status, int rc) {
    if (!cd->dist) return;
    if (status == TT_ERR_COMM || tt_dist_broken(cd->dist)) { /* a peer is gone, or waits for us */
        fflush(stdout);
        fflush(stderr);
        tt_dist_abort(cd->dist, rc ? rc : CLI_EXIT_FAIL); /* does not return with MPI */
    }
    tt_dist_free(cd->dist);
    cd->dist = NULL;
}
