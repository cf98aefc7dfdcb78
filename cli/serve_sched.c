/*
 * tt serve's scheduler: one thread owns the generator and runs continuous
 * batching (docs/serve.md, "Continuous batching").
 *
 * Each request is a job of n_choices rows. Between two decode steps the
 * thread (1) frees the rows of jobs whose client has gone, (2) moves queued
 * jobs into the batch while their rows fit in --max-batch (first come,
 * first served: a large job at the head is not overtaken), (3) runs one
 * tt_generator_step for every row (a new row is prefilled in that step),
 * (4) hands each row's new visible tokens to its job and removes the rows
 * that finished. A row draws from the stream (seed, choice index), so its
 * tokens are those `tt generate` gives alone, whatever runs beside it
 * (tt/generate.h, step API).
 *
 * One mutex guards the queue, the jobs' shared fields and the figures; the
 * generator is touched by the scheduler thread alone (and by start/stop
 * while that thread does not run).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

struct serve_sched {
    pthread_mutex_t mu;
    pthread_cond_t work;    /* the scheduler waits for jobs */
    pthread_cond_t changed; /* handlers wait for their jobs' tokens */
    tt_generator *g;
    serve_sched_config cfg;
    serve_job *head, *tail; /* the queue */
    int n_queued;
    serve_job **running; /* [max_batch] jobs with rows in the generator */
    int n_running, rows_used;
    /* row handle -> (job, choice) */
    serve_job **row_job;
    int *row_choice;
    int n_row_map;
    tt_step_token *toks; /* [max_batch] */
    bool stopping;
    double deadline; /* stopping: the end of the grace period */
    pthread_t thread;
    bool started;
    serve_sched_stats st;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- Jobs ------------------------------------------------------------------ */

serve_job *serve_job_new(const tt_generator_config *gc, int **prompts, const int *lens,
                         int n_prompts, int n) {
    serve_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->gc = *gc;
    j->n_choices = n_prompts * n;
    j->refs = 1;
    j->choices = calloc((size_t)j->n_choices, sizeof *j->choices);
    j->rows = malloc((size_t)j->n_choices * sizeof *j->rows);
    if (!j->choices || !j->rows) goto fail;
    for (int c = 0; c < j->n_choices; c++) {
        const int p = c / n;
        serve_choice *ch = &j->choices[c];
        j->rows[c] = -1;
        ch->n_prompt = lens[p];
        ch->prompt = malloc((size_t)lens[p] * sizeof *ch->prompt);
        if (!ch->prompt) goto fail;
        memcpy(ch->prompt, prompts[p], (size_t)lens[p] * sizeof *ch->prompt);
    }
    return j;
fail:
    if (j->choices)
        for (int c = 0; c < j->n_choices; c++)
            free(j->choices[c].prompt);
    free(j->choices);
    free(j->rows);
    free(j);
    return NULL;
}

static void job_free(serve_job *j) {
    for (int c = 0; c < j->n_choices; c++) {
        free(j->choices[c].prompt);
        free(j->choices[c].ids);
        free(j->choices[c].lps);
    }
    free(j->choices);
    free(j->rows);
    free(j);
}

/* Under mu. */
static void job_unref(serve_job *j) {
    if (--j->refs == 0) job_free(j);
}

void serve_job_release(serve_sched *q, serve_job *job) {
    if (!job) return;
    pthread_mutex_lock(&q->mu);
    job_unref(job);
    pthread_mutex_unlock(&q->mu);
}

void serve_job_cancel(serve_sched *q, serve_job *job) {
    pthread_mutex_lock(&q->mu);
    job->cancelled = true;
    if (job->state == SERVE_JOB_QUEUED) {
        /* leaves the queue now: a gone client must not hold a place in
         * --max-queue (and cause 503s) until the job reaches the head */
        serve_job *prev = NULL, *it = q->head;
        for (; it && it != job; it = it->next)
            prev = it;
        if (it) { /* queued (a job refused by submit never was) */
            if (prev)
                prev->next = job->next;
            else
                q->head = job->next;
            if (q->tail == job) q->tail = prev;
            q->n_queued--;
            job->state = SERVE_JOB_DONE;
            job_unref(job); /* the queue's reference */
        }
    }
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
}

void serve_sched_lock(serve_sched *q) { pthread_mutex_lock(&q->mu); }
void serve_sched_unlock(serve_sched *q) { pthread_mutex_unlock(&q->mu); }

void serve_sched_wait(serve_sched *q, serve_job *job, int timeout_ms) {
    pthread_mutex_lock(&q->mu);
    serve_sched_wait_locked(q, job, timeout_ms);
}

void serve_sched_wait_locked(serve_sched *q, serve_job *job, int timeout_ms) {
    if (job->state == SERVE_JOB_DONE) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&q->changed, &q->mu, &ts);
}

int serve_sched_submit(serve_sched *q, serve_job *job, bool *stopping) {
    pthread_mutex_lock(&q->mu);
    *stopping = q->stopping;
    /* a job that can join at the next step does not wait: --max-queue counts
     * the ones that must */
    const bool fits_now = !q->head && q->rows_used + job->n_choices <= q->cfg.max_batch;
    if (q->stopping || (!fits_now && q->n_queued >= q->cfg.max_queue)) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    job->refs++;
    job->state = SERVE_JOB_QUEUED;
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->n_queued++;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void serve_sched_get_stats(serve_sched *q, serve_sched_stats *st) {
    pthread_mutex_lock(&q->mu);
    *st = q->st;
    st->queued = q->n_queued;
    st->rows = q->rows_used;
    st->max_batch = q->cfg.max_batch;
    st->max_queue = q->cfg.max_queue;
    pthread_mutex_unlock(&q->mu);
}

/* ---- The scheduler thread (all below run under mu) ----------------------- */

static void append_token(serve_choice *ch, int token, const tt_token_logprob *lp) {
    if (ch->n_tokens == ch->cap_tokens) {
        const int cap = ch->cap_tokens ? 2 * ch->cap_tokens : 64;
        int *ids = realloc(ch->ids, (size_t)cap * sizeof *ids);
        if (ids) ch->ids = ids;
        tt_token_logprob *lps = lp ? realloc(ch->lps, (size_t)cap * sizeof *lps) : NULL;
        if (lps) ch->lps = lps;
        if (!ids || (lp && !lps)) return; /* the token is lost (out of memory) */
        ch->cap_tokens = cap;
    }
    ch->ids[ch->n_tokens] = token;
    if (lp) ch->lps[ch->n_tokens] = *lp;
    ch->n_tokens++;
}

static void remove_row(serve_sched *q, serve_job *j, int c) {
    if (j->rows[c] < 0) return;
    tt_generator_remove_row(q->g, j->rows[c], NULL);
    if (j->rows[c] < q->n_row_map) q->row_job[j->rows[c]] = NULL;
    j->rows[c] = -1;
    q->rows_used--;
}

/* Takes a finished (or failed, or abandoned) job out of the batch. */
static void retire(serve_sched *q, int i) {
    serve_job *j = q->running[i];
    for (int c = 0; c < j->n_choices; c++)
        remove_row(q, j, c);
    j->state = SERVE_JOB_DONE;
    q->running[i] = q->running[--q->n_running];
    job_unref(j);
}

static void fail_job(serve_job *j, int status, const char *msg) {
    j->error_status = status;
    snprintf(j->error, sizeof j->error, "%s", msg);
}

static int map_row(serve_sched *q, int row, serve_job *j, int c) {
    if (row >= q->n_row_map) {
        const int n = row + 16;
        serve_job **rj = realloc(q->row_job, (size_t)n * sizeof *rj);
        if (!rj) return -1;
        q->row_job = rj;
        int *rc = realloc(q->row_choice, (size_t)n * sizeof *rc);
        if (!rc) return -1;
        q->row_choice = rc;
        for (int i = q->n_row_map; i < n; i++)
            q->row_job[i] = NULL;
        q->n_row_map = n;
    }
    q->row_job[row] = j;
    q->row_choice[row] = c;
    return 0;
}

/* Puts a job's rows into the generator (it joins at the next step). */
static void start_job(serve_sched *q, serve_job *j) {
    q->running[q->n_running++] = j;
    j->state = SERVE_JOB_RUNNING;
    tt_error err;
    for (int c = 0; c < j->n_choices; c++) {
        serve_choice *ch = &j->choices[c];
        q->st.prompt_tokens += (uint64_t)ch->n_prompt;
        if (j->gc.max_new_tokens == 0) { /* echo or prompt logprobs alone */
            ch->finished = true;
            ch->finish = TT_FINISH_LENGTH;
            continue;
        }
        int row;
        if (tt_generator_add_row(q->g, ch->prompt, ch->n_prompt, &j->gc, (uint64_t)c, &row, &err) !=
            TT_OK) {
            fail_job(j, err.code == TT_ERR_NOMEM ? 503 : 400, err.msg);
            return;
        }
        j->rows[c] = row;
        q->rows_used++;
        if (map_row(q, row, j, c)) {
            fail_job(j, 500, "out of memory");
            return;
        }
    }
}

static bool job_finished(const serve_job *j) {
    if (j->error_status) return true;
    for (int c = 0; c < j->n_choices; c++)
        if (!j->choices[c].finished) return false;
    return true;
}

/* Hands a step's tokens to their jobs: the tokens a stream may show now. */
static void deliver(serve_sched *q, int n_toks) {
    for (int i = 0; i < n_toks; i++) {
        const tt_step_token *t = &q->toks[i];
        if (t->row < 0 || t->row >= q->n_row_map || !q->row_job[t->row]) continue;
        serve_job *j = q->row_job[t->row];
        const int c = q->row_choice[t->row];
        serve_choice *ch = &j->choices[c];
        const tt_generation *res;
        if (tt_generator_row_result(q->g, t->row, &res, NULL) != TT_OK) continue;
        const int visible = res->n_generated - (t->finished ? 0 : t->hold);
        for (int k = ch->n_tokens; k < visible; k++)
            append_token(ch, res->tokens[res->n_prompt + k],
                         res->logprobs ? &res->logprobs[k] : NULL);
        if (t->finished) {
            ch->finished = true;
            ch->finish = t->finish;
            remove_row(q, j, c);
        }
    }
}

static void *sched_main(void *arg) {
    serve_sched *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        /* (1) jobs that finished, failed or lost their client leave */
        for (int i = q->n_running - 1; i >= 0; i--)
            if (q->running[i]->cancelled || job_finished(q->running[i])) retire(q, i);
        /* (2) queued jobs join while their rows fit */
        while (q->head && !q->stopping) {
            serve_job *j = q->head;
            if (!j->cancelled && q->rows_used + j->n_choices > q->cfg.max_batch) break;
            q->head = j->next;
            if (!q->head) q->tail = NULL;
            q->n_queued--;
            if (j->cancelled) {
                j->state = SERVE_JOB_DONE;
                job_unref(j);
                continue;
            }
            start_job(q, j);
            if (job_finished(j)) retire(q, q->n_running - 1);
            pthread_cond_broadcast(&q->changed);
        }
        if (q->stopping && now_s() >= q->deadline) { /* the grace period is over */
            for (int i = q->n_running - 1; i >= 0; i--) {
                serve_job *j = q->running[i];
                for (int c = 0; c < j->n_choices; c++)
                    if (!j->choices[c].finished) {
                        j->choices[c].finished = true;
                        j->choices[c].finish = TT_FINISH_LENGTH;
                    }
                retire(q, i);
            }
            pthread_cond_broadcast(&q->changed);
        }
        if (q->n_running == 0) {
            if (q->stopping) break;
            pthread_cond_wait(&q->work, &q->mu);
            continue;
        }
        if (q->rows_used == 0) continue; /* jobs without rows: retired above */
        pthread_mutex_unlock(&q->mu);
        /* (3) one step of every row; no lock held: handlers go on */
        tt_error err;
        int n_toks = 0;
        const double t0 = now_s();
        const tt_status st = tt_generator_step(q->g, q->toks, q->cfg.max_batch, &n_toks, &err);
        const double dt = now_s() - t0;
        pthread_mutex_lock(&q->mu);
        if (st != TT_OK) {
            for (int i = q->n_running - 1; i >= 0; i--) {
                fail_job(q->running[i], 500, err.msg);
                retire(q, i);
            }
        } else {
            q->st.steps++;
            q->st.step_seconds += dt;
            q->st.tokens_generated += (uint64_t)n_toks;
            deliver(q, n_toks); /* (4) */
        }
        pthread_cond_broadcast(&q->changed);
    }
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int serve_sched_start(serve_sched **out, const tt_model *m, const tt_tokenizer *tok,
                      const serve_sched_config *cfg, char *msg, size_t msg_size) {
    serve_sched *q = calloc(1, sizeof *q);
    *out = NULL;
    if (!q) {
        snprintf(msg, msg_size, "out of memory");
        return -1;
    }
    q->cfg = *cfg;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->changed, NULL);
    q->running = calloc((size_t)cfg->max_batch, sizeof *q->running);
    q->toks = calloc((size_t)cfg->max_batch, sizeof *q->toks);
    if (!q->running || !q->toks) {
        snprintf(msg, msg_size, "out of memory");
        serve_sched_free(q);
        return -1;
    }
    tt_generator_config gc = tt_generator_config_default();
    gc.n_threads = cfg->n_threads;
    gc.context_len = cfg->context_len;
    tt_error err;
    if (tt_generator_create(&q->g, m, &gc, &err) != TT_OK) {
        snprintf(msg, msg_size, "%s", err.msg);
        serve_sched_free(q);
        return -1;
    }
    tt_generator_set_tokenizer(q->g, tok);
    if (pthread_create(&q->thread, NULL, sched_main, q) != 0) {
        snprintf(msg, msg_size, "cannot start the scheduler thread");
        serve_sched_free(q);
        return -1;
    }
    q->started = true;
    *out = q;
    return 0;
}

void serve_sched_stop(serve_sched *q, double grace_s) {
    if (!q || !q->started) return;
    pthread_mutex_lock(&q->mu);
    if (!q->stopping) {
        q->stopping = true;
        q->deadline = now_s() + grace_s;
        while (q->head) { /* queued jobs are refused: 503 */
            serve_job *j = q->head;
            q->head = j->next;
            fail_job(j, 503, "the server is shutting down");
            j->state = SERVE_JOB_DONE;
            job_unref(j);
        }
        q->tail = NULL;
        q->n_queued = 0;
        pthread_cond_broadcast(&q->changed);
        pthread_cond_signal(&q->work);
    }
    pthread_mutex_unlock(&q->mu);
    /* the grace period is checked between steps: wake an idle thread in time */
    for (;;) {
        pthread_mutex_lock(&q->mu);
        const bool idle = q->n_running == 0;
        if (idle || now_s() >= q->deadline) pthread_cond_signal(&q->work);
        pthread_mutex_unlock(&q->mu);
        if (idle) break;
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    pthread_join(q->thread, NULL);
    q->started = false;
}

void serve_sched_free(serve_sched *q) {
    if (!q) return;
    if (q->started) serve_sched_stop(q, 0.0);
    while (q->head) {
        serve_job *j = q->head;
        q->head = j->next;
        job_unref(j);
    }
    tt_generator_free(q->g);
    free(q->running);
    free(q->toks);
    free(q->row_job);
    free(q->row_choice);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->changed);
    free(q);
}
