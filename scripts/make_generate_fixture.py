#!/usr/bin/python3
"""Makes the generation fixtures: a small trained checkpoint and golden token sequences.

Run with Debian's python3 (it has torch), after building tt (for the sampled goldens):

    make BUILD=build && /usr/bin/python3 scripts/make_generate_fixture.py [--tt build/tt]

Writes
  tests/fixtures/gen_model.safetensors  V 65 (tinyshakespeare's characters), C 32, NH 4,
                                        L 2, F 64, max_len 24, sinusoidal, tied; trained
                                        for 1000 AdamW steps on tinyshakespeare (seed 0)
  tests/fixtures/gen_golden.txt         one case a line:
      name prompt=ID,ID,... max_new=N temperature=T top_k=K top_p=P do_sample=D seed=S : IDS
      (IDS = prompt + generated)

Greedy cases ("greedy_*") come from PyTorch: the reference model (scripts/reference_model.py)
generating step by step with the context cropped to the last max_len tokens, as the
teaching package's model.generate does; the script checks that the top-2 logit gap is
at least 1e-3 at every step, so float32 rounding differences cannot flip a token.

Sampled cases ("sample_*") come from PyTorch's logits too, drawn with a Python port of
tt's RNG (xoshiro256** seeded through splitmix64, src/rng.c, stream = row 0) and of tt's
sampler procedure (src/sampling.c: fixed-point weights round(exp((l - max) / T) * 2^shift),
rank order, top-k, then top-p on the top-k mass with the 1e-6 tolerance, target =
floor(u * S_kept) with u's 53 bits, walk of the kept ids in id order). float32 logits of C
and PyTorch differ in the last bits, so the script also requires every draw to be at least
1e-5 (relative to the kept mass) away from a bucket boundary and every top-p cut to be at
least 1e-5 away from the threshold: then the C sampler must pick the same token. Finally it
runs `tt generate --no-cache --json` and requires the same ids (the C tests then require the
cache path and the CLI to reproduce them).
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_model import TinyTransformerLM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = dict(d_model=32, n_heads=4, n_layers=2, d_ff=64, max_len=24, dropout=0.0)


def find_corpus():
    for p in (os.path.join(ROOT, "..", "shared", "data", "tinyshakespeare.txt"),
              "/work/shared/data/tinyshakespeare.txt"):
        if os.path.exists(p):
            return p
    sys.exit("tinyshakespeare.txt not found")


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def train(text, vocab):
    stoi = {c: i for i, c in enumerate(vocab)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    torch.manual_seed(0)
    model = TinyTransformerLM(len(vocab), **CFG, positional="sinusoidal", tie_weights=True)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    T, B = CFG["max_len"], 32
    model.train()
    for step in range(1000):
        ix = torch.randint(0, len(data) - T - 1, (B,))
        x = torch.stack([data[i:i + T] for i in ix])
        y = torch.stack([data[i + 1:i + T + 1] for i in ix])
        loss = torch.nn.functional.cross_entropy(model(x).view(-1, len(vocab)), y.view(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 249:
            print(f"step {step + 1}: loss {loss.item():.3f}")
    model.eval()
    return model


@torch.no_grad()
def next_logits(model, ids):
    ctx = torch.tensor([ids[-CFG["max_len"]:]], dtype=torch.long)
    return model(ctx)[0, -1].double()


@torch.no_grad()
def greedy(model, prompt, n):
    ids, min_gap = list(prompt), float("inf")
    for _ in range(n):
        lg = next_logits(model, ids)
        top = torch.topk(lg, 2).values
        min_gap = min(min_gap, float(top[0] - top[1]))
        ids.append(int(torch.argmax(lg)))
    if min_gap < 1e-3:
        sys.exit(f"greedy margin too small ({min_gap:g}) for prompt {prompt}")
    return ids, min_gap


M64 = (1 << 64) - 1


def splitmix64(x):
    """One step of splitmix64: (new state, output)."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Rng:
    """tt_rng_seed_stream + tt_rng_u64 (src/rng.c)."""

    def __init__(self, seed, stream):
        x, h = splitmix64(stream)
        x = seed ^ h
        self.s = []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)
        if not any(self.s):
            self.s[0] = 1

    def u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def tt_sample(lg, T, k, p, rng):
    """tt_sampler_sample's combined strategy on logits lg (floats). Returns (token, margin)."""
    V = len(lg)
    lb = 0
    while lb < 62 and (1 << lb) < V:
        lb += 1
    shift = 62 - lb
    mx = max(lg)
    T, p = f32(T), f32(p)
    w = [int(math.exp((x - mx) / T) * 2.0 ** shift + 0.5) for x in lg]
    order = sorted(range(V), key=lambda i: (-lg[i], i))
    use_k, use_p = 0 < k < V, p < 1.0
    margin = 1.0
    if not use_k and not use_p:
        kept, s_kept = set(range(V)), sum(w)
    else:
        m = k if use_k else V
        S = sum(w[order[i]] for i in range(m)) if use_k else sum(w)
        acc = S
        if use_p:
            need = math.ceil(p * (1.0 - 1e-6) * S)
            need = 1 if need < 1 else (S if need >= S else need)
            acc = 0
            for i in range(m):
                acc += w[order[i]]
                if acc >= need:
                    margin = min(margin, (acc - need) / S, (need - (acc - w[order[i]])) / S)
                    m = i + 1
                    break
        kept, s_kept = set(order[:m]), acc
    a = rng.u64() >> 11  # u = a / 2^53
    target = min((a * s_kept) >> 53, s_kept - 1)
    acc = 0
    for i in range(V):
        if i not in kept:
            continue
        if acc + w[i] > target:
            margin = min(margin, (target - acc) / s_kept, (acc + w[i] - target) / s_kept)
            return i, margin
        acc += w[i]
    raise AssertionError("no token drawn")


def kept_set(lg, T, k, p):
    """The tokens temperature, then top-k, then top-p (on the renormalised top-k) keep."""
    probs = torch.softmax(lg / T, dim=-1)
    order = torch.argsort(probs, descending=True, stable=True)
    if k and k < len(probs):
        order = order[:k]
    q = probs[order] / probs[order].sum()
    keep, cum = [], 0.0
    for i, pi in zip(order.tolist(), q.tolist()):
        keep.append(i)
        cum += pi
        if cum >= p * (1 - 1e-6):
            break
    return set(keep), probs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tt", default=os.path.join(ROOT, "build", "tt"))
    args = ap.parse_args()
    text = open(find_corpus(), encoding="utf-8").read()
    vocab = sorted(set(text))
    stoi = {c: i for i, c in enumerate(vocab)}
    model = train(text, vocab)

    fx = os.path.join(ROOT, "tests", "fixtures")
    os.makedirs(fx, exist_ok=True)
    mpath = os.path.join(fx, "gen_model.safetensors")
    config = dict(vocab_size=len(vocab), **CFG, positional="sinusoidal", tie_weights=True)
    meta = {"format": "tiny-transformer", "format_version": "1",
            "config": json.dumps(config), "vocab": json.dumps(vocab, ensure_ascii=False)}
    write_safetensors(mpath, model.state_dict(), meta)
    print(f"{mpath}: {os.path.getsize(mpath)} bytes")

    lines = ["# made by scripts/make_generate_fixture.py from PyTorch logits (sample_*: drawn with a "
             "Python port of tt's RNG and sampler; tt generate --no-cache agrees)"]
    greedy_cases = [("greedy_romeo", "ROMEO:", 40), ("greedy_long", "First Citizen:\nBefore we proceed any", 20),
                    ("greedy_a", "a", 30)]
    for name, prompt, n in greedy_cases:
        pids = [stoi[c] for c in prompt]
        ids, gap = greedy(model, pids, n)
        print(f"{name}: {''.join(vocab[i] for i in ids)!r} (min top-2 gap {gap:.4f})")
        lines.append(f"{name} prompt={','.join(map(str, pids))} max_new={n} temperature=1 top_k=0 "
                     f"top_p=1 do_sample=0 seed=42 : {' '.join(map(str, ids))}")

    sample_cases = [("sample_plain", "ROMEO:", 40, 1.0, 0, 1.0, 42),
                    ("sample_combined", "JULIET:", 40, 0.8, 10, 0.95, 7),
                    ("sample_topp", "KING", 30, 1.2, 0, 0.9, 123)]
    for name, prompt, n, T, k, p, seed in sample_cases:
        out = subprocess.run([args.tt, "generate", "--model", mpath, "--prompt", prompt,
                              "--max-new-tokens", str(n), "--temperature", str(T), "--top-k", str(k),
                              "--top-p", str(p), "--seed", str(seed), "--no-cache", "--json"],
                             check=True, capture_output=True, text=True).stdout
        c_ids = json.loads(out)["outputs"][0]["tokens"]
        pids = [stoi[c] for c in prompt]
        # PyTorch logits + the Python port of tt's RNG and sampler
        rng, ids, min_margin = Rng(seed, 0), list(pids), 1.0
        for _ in range(n):
            tok, margin = tt_sample(next_logits(model, ids).tolist(), T, k, p, rng)
            min_margin = min(min_margin, margin)
            ids.append(tok)
        if min_margin < 1e-5:
            sys.exit(f"{name}: a draw is too close to a boundary ({min_margin:g}); pick another seed")
        if ids != c_ids:
            sys.exit(f"{name}: tt generate gives\n  {c_ids}\nPyTorch + the sampler port give\n  {ids}")
        logp = 0.0
        for t in range(len(pids), len(ids)):
            keep, probs = kept_set(next_logits(model, ids[:t]), T, k, p)
            if ids[t] not in keep:
                sys.exit(f"{name}: token {ids[t]} at {t} is not in PyTorch's kept set")
            logp += math.log(float(probs[ids[t]]))
        print(f"{name}: {''.join(vocab[i] for i in ids)!r} (log p under PyTorch {logp:.2f}, "
              f"min draw margin {min_margin:.2e}; tt generate agrees)")
        lines.append(f"{name} prompt={','.join(map(str, pids))} max_new={n} temperature={T:g} top_k={k} "
                     f"top_p={p:g} do_sample=1 seed={seed} : {' '.join(map(str, ids))}")
    with open(os.path.join(fx, "gen_golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
