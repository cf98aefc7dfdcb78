/*
 * tests/fixture.h — a tiny reader for the committed reference fixtures
 * (safetensors layout: 8-byte little-endian header length, a JSON header,
 * raw little-endian data; dtypes F32 and I32). Usable by every test.
 *
 *     tt_fixture fx;
 *     if (tt_fixture_load(&fx, "model_ref.safetensors") != 0) fail_msg("%s", fx.error);
 *     size_t n;
 *     const float *logits = tt_fixture_f32(&fx, "logits", &n);   // NULL if absent / not F32
 *     tt_fixture_free(&fx);
 *
 * Files (written by scripts/make_fixtures.py with /usr/bin/python3 + torch):
 *   tests/fixtures/model_ref.safetensors          sinusoidal positions, tied head
 *   tests/fixtures/model_ref_learned.safetensors  learned positions, untied head
 * Both: V=11, C=16, NH=2, L=2, F=32, max_len=16, dropout 0, batch B=2, T=8
 * (also in the "config" metadata string, JSON). Tensors:
 *   <state-dict name>       F32  every state_dict() entry, e.g. "blocks.0.self_attn.W_q.weight",
 *                                "embedding.positional_encoding.pe", "lm_head.weight"
 *   "tokens", "targets"     I32  [B, T]
 *   "logits"                F32  [B, T, V]  forward (dropout 0)
 *   "loss"                  F32  [1]        mean cross-entropy
 *   "grad.<param name>"     F32  d loss / d param for each named parameter (a tied lm_head
 *                                only as "grad.embedding.token_embedding.embedding.weight")
 *   "adamw_losses"          F32  [11] loss at the forward of AdamW steps 1..10 on the same
 *                                batch, then the loss after step 10
 *   "adamw_grad_norms"      F32  [10] global gradient L2 norm before clipping, steps 1..10
 *   "adamw.<param name>"    F32  parameters after the 10 steps
 * AdamW there: lr 1e-3 constant, betas (0.9, 0.95), eps 1e-8, weight decay 0.01 on
 * weight matrices and embeddings only (not biases / LayerNorm), global-norm clipping
 * to 1.0 before every step (torch.nn.utils.clip_grad_norm_), PyTorch 1.13.
 */
#ifndef TT_TESTS_FIXTURE_H
#define TT_TESTS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;
    char dtype[8];    /* "F32" or "I32" */
    int ndim;
    size_t shape[4];
    size_t numel;
    void *data;       /* into the fixture's buffer (aligned copy) */
} tt_fixture_tensor;

typedef struct {
    tt_fixture_tensor *tensors;
    size_t n;
    char *metadata_config; /* the "config" metadata string (JSON), or NULL */
    void *buf;
    char error[256];
} tt_fixture;

/* Loads tests/fixtures/<file> (looked up from the current directory, then
 * $TT_FIXTURES, then ../ and ../../). Returns 0, or -1 with fx->error set. */
int tt_fixture_load(tt_fixture *fx, const char *file);
void tt_fixture_free(tt_fixture *fx);
const tt_fixture_tensor *tt_fixture_get(const tt_fixture *fx, const char *name);
/* Data of a tensor of that dtype (NULL if absent or another dtype); *numel may be NULL. */
const float *tt_fixture_f32(const tt_fixture *fx, const char *name, size_t *numel);
const int32_t *tt_fixture_i32(const tt_fixture *fx, const char *name, size_t *numel);

/* The path of tests/fixtures/<file>, looked up as tt_fixture_load does
 * (malloc'ed; NULL when not found). */
char *tt_fixture_path(const char *file);

/* Text fixtures (sampling_controls.txt, gen_golden.txt): lines of
 * " key=value" fields. tt_fixture_field gives the value after " key=" (the
 * test fails when the line lacks it); tt_fixture_ids reads a comma list of
 * ids ("-": none) into out[cap] and returns how many. */
const char *tt_fixture_field(const char *line, const char *key);
int tt_fixture_ids(const char *s, int *out, int cap);

/* Compares got[n] with want[n]: each |got - want| <= atol + rtol |want|.
 * Returns the number of mismatches and writes the worst one (index, values)
 * into msg (cap bytes) for the test's failure message. */
size_t tt_fixture_compare(const float *got, const float *want, size_t n, double rtol, double atol,
                          char *msg, size_t cap);

#endif
