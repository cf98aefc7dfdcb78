/*
 * exercises/exercises.h — the 14 Module 07 exercises: what each function you
 * write must do. The checker (exercises/checker.c) calls exactly these.
 *
 *     make exercises               build your exercises/ex*.c and check them
 *     make exercises SOLUTIONS=1   the same with the reference solutions
 *     make exercises EX=5          only exercise 5 (any list: EX="5 6 8")
 *     make exercises SHOW=1        also show your results beside the reference's
 *
 * Every function returns a tt_status: TT_OK, TT_ERR_ARG for a bad argument,
 * or whatever library error it passes on. The stubs return
 * TT_ERR_NOT_IMPLEMENTED, which the checker reports as "not done yet".
 *
 * Dimension legend (as everywhere in tiny-transformer): B batch rows,
 * T prompt length (time), V vocabulary size.
 *
 * Conventions the checker relies on:
 *  - logits are rows of V floats, row-major; -inf marks a masked token (its
 *    probability is 0). Nothing here modifies the caller's logits.
 *  - Token ids are ints in [0, V). Output buffers are the caller's; write
 *    exactly the elements described, never more.
 *  - Random draws come only from the tt_rng you are given (tt/rng.h), so a
 *    seed gives the same result every time.
 *  - Strings returned through `char **` are malloc'ed; the caller frees them.
 *  - Temperature 0 means greedy wherever a temperature is taken (as in the
 *    library, docs/sampling.md): the limit of softmax(z / T) as T -> 0 is
 *    one-hot on the argmax (ties: the lowest id), and greedy draws no random
 *    number. A negative, NaN or infinite temperature is TT_ERR_ARG.
 *
 * Order and what each teaches: docs/exercises.md; why each matters: the
 * header of its stub and docs/learners-guide.md.
 */
#ifndef TT_EXERCISES_H
#define TT_EXERCISES_H

#include <stdint.h>

#include "tt/common.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/rng.h"
#include "tt/sampling.h"
#include "tt/tokenizer.h"

/* ---- 01 greedy (Easy) --------------------------------------------------- */
/* out[b] = argmax_v logits[b, v] for logits [B, V]; ties go to the lowest id.
 * @return TT_OK, TT_ERR_ARG (NULL pointer, B < 1 or V < 1). */
tt_status ex01_greedy(const float *logits, int B, int V, int *out);

/* ---- 02 temperature (Easy) ---------------------------------------------- */
/* Draws one id from probs [V] (non-negative, summing to 1) with one uniform
 * number from rng. A token of probability 0 is never drawn.
 * @return TT_OK, TT_ERR_ARG (NULL, V < 1, a negative or NaN probability,
 * or a sum that is not positive). */
tt_status ex02_sample_from_probs(const float *probs, int V, tt_rng *rng, int *token);
/* out[b] ~ softmax(logits[b] / temperature) for logits [B, V], out [B].
 * Temperature 0 means greedy (the limit of softmax(z / T) as T -> 0): out[b]
 * is the argmax of row b (ties: the lowest id) and no number is drawn from rng.
 * @return TT_OK, TT_ERR_ARG (temperature negative, NaN or inf, B < 1, V < 1). */
tt_status ex02_temperature_sample(const float *logits, int B, int V, float temperature,
                                  tt_rng *rng, int *out);

/* ---- 03 greedy against temperature (Easy) ------------------------------- */
#define EX03_N_STRATEGIES 4
#define EX03_STRATEGY_NAMES {"greedy", "temp_0.5", "temp_1.0", "temp_2.0"}
/* n_samples draws from one row of logits [V] with each strategy, in the
 * order of EX03_STRATEGY_NAMES: samples [EX03_N_STRATEGIES, n_samples].
 * @return TT_OK, TT_ERR_ARG (V < 1, n_samples < 1). */
tt_status ex03_compare(const float *logits, int V, int n_samples, tt_rng *rng, int *samples);

/* ---- 04 temperature curves (Easy) --------------------------------------- */
#define EX04_N_TEMPERATURES 4
#define EX04_TEMPERATURES {0.5f, 1.0f, 2.0f, 5.0f}
/* probs [EX04_N_TEMPERATURES, V]: row i = softmax(logits / EX04_TEMPERATURES[i]);
 * entropy_bits [EX04_N_TEMPERATURES]: -sum p log2 p of row i (0 log 0 = 0).
 * @return TT_OK, TT_ERR_ARG (V < 1, every logit -inf). */
tt_status ex04_temperature_curves(const float *logits, int V, float *probs,
                                  double *entropy_bits);

/* ---- 05 top-k (Medium) -------------------------------------------------- */
/* probs [V]: softmax(logits / temperature) restricted to the k most probable
 * tokens and renormalised; 0 elsewhere. Exactly k tokens are kept (ties at
 * the k-th value go to the lower id); k >= V keeps all. Temperature 0 is
 * greedy: probs is one-hot on the argmax (ties: the lowest id).
 * @return TT_OK, TT_ERR_ARG (k < 1, temperature negative, NaN or inf, V < 1). */
tt_status ex05_top_k_filter(const float *logits, int V, int k, float temperature, float *probs);
/* out[b] drawn from ex05_top_k_filter(logits[b]) for logits [B, V]; at
 * temperature 0 out[b] is the argmax, and no number is drawn from rng. */
tt_status ex05_top_k_sample(const float *logits, int B, int V, int k, float temperature,
                            tt_rng *rng, int *out);

/* ---- 06 top-p, nucleus (Medium) ----------------------------------------- */
/* probs [V]: softmax(logits / temperature), then keep the SMALLEST set of most
 * probable tokens whose cumulative probability reaches p (cumsum >= p; the
 * token that crosses p is kept; at least one token; ties: lower id first),
 * renormalised; 0 elsewhere. p = 1 keeps every token of non-zero probability.
 * Temperature 0 is greedy: probs is one-hot on the argmax (ties: lowest id).
 * @return TT_OK, TT_ERR_ARG (p not in (0, 1], temperature negative, NaN or
 * inf, V < 1). */
tt_status ex06_top_p_filter(const float *logits, int V, float p, float temperature, float *probs);
/* out[b] drawn from ex06_top_p_filter(logits[b]) for logits [B, V]; at
 * temperature 0 out[b] is the argmax, and no number is drawn from rng. */
tt_status ex06_top_p_sample(const float *logits, int B, int V, float p, float temperature,
                            tt_rng *rng, int *out);

/* ---- 07 using the generator (Medium) ------------------------------------ */
/* Generates with a tt_generator (tt/generate.h): max_new_tokens, temperature
 * and seed set, every other setting at its default (sampling on, no top-k,
 * no top-p, no EOS). prompts [B, T] (row-major); out [B, T + max_new_tokens]
 * receives prompt + generated tokens of each row.
 * @return TT_OK, TT_ERR_ARG (B < 1, T < 1, max_new_tokens < 1, or what the
 * generator rejects, e.g. a negative temperature; 0 is greedy), or the
 * generator's error. */
tt_status ex07_generate(const tt_model *model, const int *prompts, int B, int T,
                        int max_new_tokens, float temperature, uint64_t seed, int *out);

/* ---- 08 combined (Hard) ------------------------------------------------- */
/* probs [V]: temperature, then top-k (top_k = 0: off), then top-p on the
 * renormalised top-k distribution (top_p = 1: off), as ex05 and ex06 define
 * them. Temperature 0 is greedy: probs is one-hot on the argmax (ties: the
 * lowest id), whatever top_k and top_p. @return TT_OK, TT_ERR_ARG (temperature
 * negative, NaN or inf, top_k < 0, p not in (0, 1]). */
tt_status ex08_combined_filter(const float *logits, int V, float temperature, int top_k,
                               float top_p, float *probs);
/* out[b] drawn from ex08_combined_filter(logits[b]) for logits [B, V]; at
 * temperature 0 out[b] is the argmax, and no number is drawn from rng. */
tt_status ex08_combined_sample(const float *logits, int B, int V, float temperature, int top_k,
                               float top_p, tt_rng *rng, int *out);

/* ---- 09 temperature effects (Medium) ------------------------------------ */
#define EX09_N_TEMPERATURES 5
#define EX09_TEMPERATURES {0.1f, 0.5f, 1.0f, 1.5f, 2.0f}
typedef struct {
    float temperature;    /* the temperature the samples were drawn at       */
    double diversity;     /* unique_tokens / n                               */
    double entropy_bits;  /* -sum c/n log2(c/n) over the counts c of the ids */
    double max_frequency; /* (count of the most frequent id) / n            */
    int unique_tokens;    /* number of distinct ids                          */
} ex09_stats;
/* The statistics of n samples (ids in [0, V)); leaves stats->temperature
 * alone. @return TT_OK, TT_ERR_ARG (n < 1, V < 1, an id out of range). */
tt_status ex09_sample_stats(const int *samples, int n, int V, ex09_stats *stats);
/* For each temperature of EX09_TEMPERATURES (in that order): n_samples draws
 * from softmax(logits / t) into samples [EX09_N_TEMPERATURES, n_samples] and
 * their statistics into stats [EX09_N_TEMPERATURES] (temperature filled in). */
tt_status ex09_temperature_effects(const float *logits, int V, int n_samples, tt_rng *rng,
                                   int *samples, ex09_stats *stats);

/* ---- 10 a custom generator with EOS and padding (Hard) ------------------ */
/* Your own generation loop, without tt_generator: for each step, run
 * tt_model_forward (TT_MODE_EVAL) on the sequences so far [B, T + step] and
 * take the logits of the last position of each row; then, for each row b in
 * order (finished rows too, so the random stream does not depend on which
 * rows have finished), draw one token with tt_sampler_sample using
 * TT_STRATEGY_COMBINED (temperature, 0 = greedy; top_k, 0 = off; top_p,
 * 1 = off) and rng.
 * A row that had finished BEFORE this step gets pad_token_id instead of its
 * draw. After appending, a row whose new token is eos_token_id is finished;
 * when every row has finished, stop early.
 * prompts [B, T]; out has B rows of stride T + max_new_tokens: the prompt,
 * then the tokens of *n_steps steps (columns after T + *n_steps are not
 * read). T + max_new_tokens must be <= the model's max_len.
 * @return TT_OK, TT_ERR_ARG (bad sizes, eos/pad not in [0, V), bad
 * sampling values), or the model's / sampler's error. */
tt_status ex10_generate(tt_model *model, const int *prompts, int B, int T, int max_new_tokens,
                        float temperature, int top_k, float top_p, int eos_token_id,
                        int pad_token_id, tt_rng *rng, int *out, int *n_steps);

/* ---- 11 comparing all strategies (Hard) --------------------------------- */
#define EX11_N_STRATEGIES 9
#define EX11_STRATEGY_NAMES                                                                   \
    {"greedy", "temp_0.5", "temp_1.0", "temp_2.0", "top_k_10", "top_k_50", "top_p_0.9",     \
     "top_p_0.95", "combined"}
/* Generates from one prompt [T] with each strategy of EX11_STRATEGY_NAMES:
 * greedy (TT_STRATEGY_GREEDY); temperature 0.5, 1, 2; top-k 10 and 50 at
 * temperature 1; top-p 0.9 and 0.95 at temperature 1; combined T 0.8, k 50,
 * p 0.9. Each is its own tt_generator run (max_new_tokens, seed, the other
 * settings at their defaults), so out [EX11_N_STRATEGIES, T + max_new_tokens]
 * holds prompt + generated tokens for each strategy. */
tt_status ex11_compare_all(const tt_model *model, const int *prompt, int T, int max_new_tokens,
                           uint64_t seed, int *out);

/* ---- 12 a completion system (Very Hard) --------------------------------- */
/* n_completions completions of a text prompt, as ONE tt_generator call on a
 * batch of n_completions copies of the encoded prompt (row r draws from the
 * stream (seed, r), so the completions differ), with max_new_tokens,
 * temperature, top_k, top_p and seed set. completions [n_completions]
 * receives malloc'ed UTF-8 texts that INCLUDE the prompt.
 * @return TT_OK, TT_ERR_ARG, or the tokenizer's / generator's error. */
tt_status ex12_complete(const tt_model *model, const tt_tokenizer *tok, const char *prompt,
                        int n_completions, int max_new_tokens, float temperature, int top_k,
                        float top_p, uint64_t seed, char **completions);
/* The mean log-probability (natural log) the model gives the GENERATED tokens
 * of `text` (= prompt + generated): with ids x[0..n) of text and n_p ids in
 * the prompt, the mean over i in [n_p, n) of log softmax(logits[i - 1])[x[i]],
 * from one forward over x. text must start with prompt, add at least one
 * token, and fit in max_len. @return TT_OK, TT_ERR_ARG, or the
 * tokenizer's / model's error. */
tt_status ex12_mean_logprob(tt_model *model, const tt_tokenizer *tok, const char *prompt,
                            const char *text, double *mean_logprob);
/* Ranks n completions of prompt: scores [n] (input order) = ex12_mean_logprob;
 * order [n] = the indices, highest score first (equal scores: lower index first). */
tt_status ex12_rank(tt_model *model, const tt_tokenizer *tok, const char *prompt,
                    const char *const *completions, int n, int *order, double *scores);

/* ---- 13 temperature schedules (Very Hard) ------------------------------- */
/* The temperature at `step` (0-based) of max_new_tokens steps, going from
 * start_temp to end_temp, with progress = step / max(max_new_tokens - 1, 1)
 * (so the last step is at end_temp):
 *   "linear":      start + (end - start) * progress
 *   "exponential": start * (end / start) ^ progress
 *   "cosine":      end + (start - end) * (1 + cos(pi * progress)) / 2
 * A temperature may be 0 (greedy at that step); with an end at 0,
 * "exponential" is the limit start^(1 - progress) * end^progress (0 between
 * the ends). @return TT_OK, TT_ERR_ARG (unknown schedule, step outside
 * [0, max_new_tokens), a temperature negative, NaN or inf). */
tt_status ex13_temperature_at(const char *schedule, int step, int max_new_tokens,
                              float start_temp, float end_temp, float *temperature);
/* Generation with a temperature schedule: as ex10 (one tt_model_forward per
 * step, last position's logits), but each row draws with tt_sampler_sample
 * using TT_STRATEGY_TEMPERATURE at ex13_temperature_at(step), rows in order,
 * from rng; no EOS. prompts [B, T]; out [B, T + max_new_tokens].
 * T + max_new_tokens must be <= max_len. */
tt_status ex13_generate(tt_model *model, const int *prompts, int B, int T, int max_new_tokens,
                        float start_temp, float end_temp, const char *schedule, tt_rng *rng,
                        int *out);

/* ---- 14 story continuation (Very Hard) ---------------------------------- */
/* Continues a story sentence by sentence. The context starts as the encoded
 * story_start. Chunk c (c = 0, 1, ...) is one tt_generator call on the
 * context with max_new_tokens 50, temperature, top_k, top_p, and seed
 * seed + c. If the chunk's new tokens contain '.', the context becomes the
 * context plus the new tokens up to and including the first '.' and one
 * sentence is done; otherwise the context becomes the context plus all 50
 * new tokens, and if it is then longer than (prompt length + num_sentences *
 * 50) tokens, stop. Stop once num_sentences sentences are done.
 * *continuation (malloc'ed) = the decoded context without the prompt, with
 * leading and trailing whitespace (' ', '\n', '\t', '\r') removed.
 * @return TT_OK, TT_ERR_ARG (num_sentences < 1 ...), or a library error. */
tt_status ex14_continue_story(const tt_model *model, const tt_tokenizer *tok,
                              const char *story_start, int num_sentences, float temperature,
                              int top_k, float top_p, uint64_t seed, char **continuation);
/* Style presets (temperature, top_k, top_p): fantasy (0.9, 50, 0.92), scifi
 * (0.8, 60, 0.9), mystery (0.7, 40, 0.85), romance (0.85, 45, 0.88); any
 * other style (0.8, 50, 0.9). @return TT_OK, TT_ERR_ARG (NULL). */
tt_status ex14_style_params(const char *style, float *temperature, int *top_k, float *top_p);
/* ex14_continue_story with the preset of `style`. */
tt_status ex14_generate_with_style(const tt_model *model, const tt_tokenizer *tok,
                                   const char *story_start, const char *style,
                                   int num_sentences, uint64_t seed, char **continuation);

#endif /* TT_EXERCISES_H */
