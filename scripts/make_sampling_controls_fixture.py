#!/usr/bin/python3
"""Makes tests/fixtures/sampling_controls.txt: reference results of the sampling controls,
computed with PyTorch implementations of Hugging Face's and OpenAI's rules.

Run with Debian's python3 (it has torch):

    /usr/bin/python3 scripts/make_sampling_controls_fixture.py

Two kinds of lines (every number in float32's shortest round-trip form):

  filter NAME V=.. T=.. top_k=.. top_p=.. min_p=.. typical_p=.. rep=.. presence=.. frequency=..
         last_n=.. prompt=IDS gen=IDS bias=ID:B,.. : LOGITS | PROBS
      One row of logits and the distribution the chain samples from, in HF's order: logit
      bias (additive, OpenAI), repetition penalty (HF RepetitionPenaltyLogitsProcessor over the
      window's prompt + generated ids), presence / frequency penalties (OpenAI, generated ids of
      the window), then TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
      MinPLogitsWarper, TypicalLogitsWarper, softmax. The window is the last last_n ids of
      prompt + gen (0 = all). Cases whose outcome depends on a boundary closer than 1e-4
      (a cumulative mass against top_p or the typical mass, a ratio p / p_max against min_p)
      are skipped, so float32 rounding cannot decide them.

  beam NAME prompt=IDS max_new=N num_beams=B length_penalty=X early_stopping=0|1 eos=ID
       rep=R R_ret=N : IDS score ; IDS score ; ...
      Beam search on tests/fixtures/gen_model.safetensors with transformers' _beam_search
      algorithm (greedy, log_softmax then the repetition penalty on log-probs, 2 * B
      candidates, finished hypotheses scored sum / generated_len^length_penalty, the
      early-stop heuristic), the best R_ret sequences (prompt + generated) with their scores.
      The script requires every ranking decision to have a margin of at least 1e-4.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_model import TinyTransformerLM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "sampling_controls.txt")
MODEL = os.path.join(ROOT, "tests", "fixtures", "gen_model.safetensors")
NEG = -float("inf")


def f32s(x):
    """Shortest decimal that reads back to the same float32."""
    x = float(torch.tensor(x, dtype=torch.float32))
    for d in range(1, 12):
        s = f"{x:.{d}g}"
        if float(torch.tensor(float(s), dtype=torch.float32)) == x:
            return s
    return repr(x)


class Skip(Exception):
    pass


def margin(a, b, what):
    if abs(float(a) - float(b)) < 1e-4:
        raise Skip(what)


# ---- the rules, after HF transformers' logits processors and OpenAI's penalties ----------

def repetition(scores, ids, penalty):
    if penalty == 1.0 or not ids:
        return scores
    idx = torch.tensor(sorted(set(ids)), dtype=torch.long)
    s = scores.gather(0, idx)
    s = torch.where(s < 0, s * penalty, s / penalty)
    return scores.scatter(0, idx, s)


def presence_frequency(scores, gen_ids, presence, frequency):
    counts = torch.zeros_like(scores)
    for t in gen_ids:
        counts[t] += 1
    return scores - frequency * counts - presence * (counts > 0).float()


def top_k(scores, k):
    if k <= 0 or k >= scores.numel():
        return scores
    kth = torch.topk(scores, k).values[-1]
    return scores.masked_fill(scores < kth, NEG)


def top_p(scores, p):
    if p >= 1.0:
        return scores
    sorted_logits, sorted_idx = torch.sort(scores, descending=False)
    cum = sorted_logits.softmax(-1).cumsum(-1)
    for c in cum:
        if torch.isfinite(c):
            margin(c, 1 - p, "top_p boundary")
    remove = cum <= (1 - p)
    remove[-1:] = False
    return scores.masked_fill(remove.scatter(0, sorted_idx, remove), NEG)


def min_p(scores, mp):
    if mp <= 0.0:
        return scores
    probs = scores.softmax(-1)
    top = probs.max()
    for q in probs:
        if q > 0:
            margin(q / top, mp, "min_p boundary")
    remove = probs < mp * top
    sorted_idx = torch.argsort(scores, descending=True)
    sremove = remove.gather(0, sorted_idx)
    sremove[:1] = False
    return scores.masked_fill(sremove.scatter(0, sorted_idx, sremove), NEG)


def typical(scores, mass):
    if mass >= 1.0:
        return scores
    normalized = torch.log_softmax(scores, -1)
    p = normalized.exp()
    ent = -(normalized * p).nansum(-1, keepdim=True)
    shifted = torch.abs(-normalized - ent)
    sorted_scores, sorted_idx = torch.sort(shifted, descending=False)
    sorted_logits = scores.gather(-1, sorted_idx)
    cum = sorted_logits.softmax(-1).cumsum(-1)
    for c in cum:
        margin(c, mass, "typical boundary")
    last = int((cum < mass).sum())
    last = min(last, scores.numel() - 1)
    sremove = sorted_scores > sorted_scores[last]
    sremove[:1] = False
    return scores.masked_fill(sremove.scatter(0, sorted_idx, sremove), NEG)


def chain(logits, c):
    ids = c["prompt"] + c["gen"]
    n = len(ids)
    w0 = n - c["last_n"] if 0 < c["last_n"] < n else 0
    window = ids[w0:]
    gen_window = [t for i, t in enumerate(ids) if i >= w0 and i >= len(c["prompt"])]
    s = logits.clone()
    for tid, b in c["bias"]:
        s[tid] += b
    s = repetition(s, window, c["rep"])
    s = presence_frequency(s, gen_window, c["presence"], c["frequency"])
    s = s / c["T"]
    s = top_k(s, c["top_k"])
    s = top_p(s, c["top_p"])
    s = min_p(s, c["min_p"])
    s = typical(s, c["typical_p"])
    return s.softmax(-1)


FILTER_CASES = [
    dict(name="min_p", T=1.0, min_p=0.1),
    dict(name="min_p_temp", T=0.7, min_p=0.05),
    dict(name="min_p_topk", T=1.3, top_k=12, min_p=0.2),
    dict(name="typical", T=1.0, typical_p=0.6),
    dict(name="typical_temp_topp", T=0.8, top_p=0.9, typical_p=0.8),
    dict(name="rep_penalty", rep=1.8, prompt=[1, 2, 3], gen=[3, 4, 4, 5]),
    dict(name="rep_penalty_below1", rep=0.6, prompt=[7, 8], gen=[9]),
    dict(name="presence_frequency", presence=0.7, frequency=0.4, prompt=[1, 2], gen=[2, 3, 3, 3, 6]),
    dict(name="penalties_last_n", rep=1.5, presence=0.5, frequency=0.5, last_n=4,
         prompt=[10, 11, 12], gen=[13, 13, 14, 10]),
    dict(name="logit_bias", bias=[(0, 5.0), (3, -100.0), (17, 2.5)]),
    dict(name="everything", T=0.9, top_k=20, top_p=0.95, min_p=0.02, typical_p=0.95, rep=1.3,
         presence=0.2, frequency=0.3, prompt=[5, 6, 7], gen=[7, 8, 8], bias=[(2, 1.5), (9, -3.0)]),
]


def filter_lines():
    lines = []
    V = 40
    for i, case in enumerate(FILTER_CASES):
        c = dict(T=1.0, top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0, rep=1.0, presence=0.0,
                 frequency=0.0, last_n=0, prompt=[], gen=[], bias=[])
        c.update(case)
        for seed in range(100 * i, 100 * i + 100):
            g = torch.Generator().manual_seed(seed)
            logits = (torch.randn(V, generator=g) * 2.0).float()
            try:
                probs = chain(logits, c)
                break
            except Skip:
                continue
        else:
            sys.exit(f"no seed without close boundaries for {c['name']}")
        fields = [f"filter {c['name']} V={V}", f"T={f32s(c['T'])}", f"top_k={c['top_k']}",
                  f"top_p={f32s(c['top_p'])}", f"min_p={f32s(c['min_p'])}",
                  f"typical_p={f32s(c['typical_p'])}", f"rep={f32s(c['rep'])}",
                  f"presence={f32s(c['presence'])}", f"frequency={f32s(c['frequency'])}",
                  f"last_n={c['last_n']}",
                  "prompt=" + (",".join(map(str, c["prompt"])) or "-"),
                  "gen=" + (",".join(map(str, c["gen"])) or "-"),
                  "bias=" + (",".join(f"{t}:{f32s(b)}" for t, b in c["bias"]) or "-")]
        lines.append(" ".join(fields) + " : " + " ".join(f32s(x) for x in logits.tolist())
                     + " | " + " ".join(f"{float(x):.9g}" for x in probs.tolist()))
    return lines


# ---- beam search ---------------------------------------------------------------------------

def load_model():
    with open(MODEL, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    meta = header.pop("__metadata__")
    cfg = json.loads(meta["config"]) if "config" in meta else meta
    state = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        state[name] = torch.frombuffer(bytearray(blob[a:b]), dtype=torch.float32).reshape(info["shape"])
    V = state["embedding.token_embedding.embedding.weight"].shape[0]
    model = TinyTransformerLM(V, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_len=24, dropout=0.0,
                              positional="sinusoidal", tie_weights=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(k != "lm_head.weight" for k in missing):
        sys.exit(f"checkpoint does not fit the reference model: {missing} {unexpected}")
    model.eval()
    return model, V


@torch.no_grad()
def beam_search(model, V, prompt, max_new, nb, lp, early, eos, rep):
    P, maxL, K = len(prompt), len(prompt) + max_new, 2 * nb
    run = [list(prompt) for _ in range(nb)]
    run_score = torch.full((nb,), -1e9, dtype=torch.float32)
    run_score[0] = 0.0
    fin = [None] * nb
    fin_score = torch.full((nb,), -1e9, dtype=torch.float32)
    fin_ok = [False] * nb
    improvable = True
    cur = P
    while cur < maxL:
        rows = []
        for b in range(nb):
            ctx = torch.tensor([run[b][-24:]], dtype=torch.long)
            logp = torch.log_softmax(model(ctx)[0, -1].float(), -1)
            logp = repetition(logp, run[b], rep)
            rows.append(logp + run_score[b])
        flat = torch.cat(rows)
        order = sorted(range(flat.numel()), key=lambda i: (-float(flat[i]), i))
        top = order[:K]
        for j in range(K):  # every decision among the K + 1 best must be clear
            if float(flat[order[j]]) > -1e8:
                margin(flat[order[j]], flat[order[j + 1]], "beam ranking")
        cand = [(float(flat[i]), i // V, i % V) for i in top]
        hits = [(eos >= 0 and t == eos) or cur + 1 >= maxL for _, _, t in cand]
        # e. the next running beams
        keyed = sorted(range(K), key=lambda i: (-(cand[i][0] + (-1e9 if hits[i] else 0.0)), i))
        sel = keyed[:nb]
        new_run = [run[cand[i][1]] + [cand[i][2]] for i in sel]
        new_score = torch.tensor([cand[i][0] + (-1e9 if hits[i] else 0.0) for i in sel],
                                 dtype=torch.float32)
        # f. finished hypotheses
        full = all(fin_ok) and early
        denom = float(cur + 1 - P) ** lp
        merged = [(float(fin_score[b]) if fin_ok[b] else -1e9, b, fin[b], fin_ok[b]) for b in range(nb)]
        for i in range(nb):
            if hits[i] and not full and improvable:
                sc = float(torch.tensor(cand[i][0], dtype=torch.float32) / denom)
                merged.append((sc, nb + i, run[cand[i][1]] + [cand[i][2]], True))
        merged.sort(key=lambda m: (-m[0], m[1]))
        merged = merged[:nb]
        fin = [m[2] for m in merged]
        fin_score = torch.tensor([m[0] for m in merged], dtype=torch.float32)
        fin_ok = [m[3] for m in merged]
        run, run_score = new_run, new_score
        cur += 1
        best_possible = float(run_score[0]) / (float(cur - P) ** lp)
        worst = float(fin_score.min())
        if all(fin_ok):
            margin(best_possible, worst, "early-stop heuristic")
        improvable = improvable and (not all(fin_ok) or best_possible > worst)
        if not improvable or (all(fin_ok) and early) or all(hits):
            break
    return [(fin[i], float(fin_score[i])) for i in range(nb) if fin_ok[i]]


BEAM_CASES = [
    dict(name="b3", prompt="ROMEO:", max_new=12, nb=3, lp=1.0, early=False, eos=-1, rep=1.0, ret=3),
    dict(name="b4_eos", prompt="the k", max_new=16, nb=4, lp=1.0, early=False, eos=" ", rep=1.0, ret=2),
    dict(name="b4_eos_early", prompt="And ", max_new=16, nb=4, lp=1.0, early=True, eos=" ", rep=1.0, ret=4),
    dict(name="b2_lp0", prompt="KING", max_new=10, nb=2, lp=0.0, early=False, eos="\n", rep=1.0, ret=2),
    dict(name="b5_lp2_rep", prompt="First", max_new=14, nb=5, lp=2.0, early=False, eos=",", rep=1.4, ret=3),
]


def beam_lines():
    model, V = load_model()
    with open(MODEL, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n))["__metadata__"]
    vocab = json.loads(meta["vocab"]) if "vocab" in meta else None
    if isinstance(vocab, dict):
        vocab = vocab.get("chars") or vocab.get("itos")
    stoi = {c: i for i, c in enumerate(vocab)}
    lines = []
    for c in BEAM_CASES:
        prompt = [stoi[ch] for ch in c["prompt"]]
        eos = stoi[c["eos"]] if isinstance(c["eos"], str) else c["eos"]
        try:
            hyps = beam_search(model, V, prompt, c["max_new"], c["nb"], c["lp"], c["early"], eos, c["rep"])
        except Skip as e:
            sys.exit(f"beam case {c['name']}: {e} too close; change the case")
        hyps = hyps[:c["ret"]]
        fields = [f"beam {c['name']}", "prompt=" + ",".join(map(str, prompt)), f"max_new={c['max_new']}",
                  f"num_beams={c['nb']}", f"length_penalty={f32s(c['lp'])}",
                  f"early_stopping={int(c['early'])}", f"eos={eos}", f"rep={f32s(c['rep'])}",
                  f"R_ret={len(hyps)}"]
        lines.append(" ".join(fields) + " : " + " ; ".join(
            " ".join(map(str, ids)) + f" {s:.9g}" for ids, s in hyps))
    return lines


def main():
    lines = ["# made by scripts/make_sampling_controls_fixture.py (PyTorch "
             + torch.__version__ + "); see the script for the format"]
    lines += filter_lines()
    lines += beam_lines()
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, OUT)
    print(f"wrote {OUT}: {len(lines) - 1} cases")


if __name__ == "__main__":
    main()
