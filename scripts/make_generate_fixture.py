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

Sampled cases ("sample_*") are produced by the C no-cache path (`tt generate --no-cache
--json`), because the draw itself uses tt's RNG (xoshiro256** seeded by splitmix64) and
tt's fixed-point sampler. The script cross-checks every sampled token against PyTorch:
it must lie in the set that temperature, top-k and top-p keep under the PyTorch logits,
and the script prints the sequence's log-probability under PyTorch. The C tests check
that the cache path reproduces these ids exactly, so the sampled goldens pin the cache
path, the RNG streams and the sampler together.
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

    lines = ["# made by scripts/make_generate_fixture.py; greedy_* from PyTorch, sample_* from "
             "tt generate --no-cache (checked against PyTorch's kept sets)"]
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
        ids = json.loads(out)["outputs"][0]["tokens"]
        pids = [stoi[c] for c in prompt]
        assert ids[:len(pids)] == pids and len(ids) == len(pids) + n
        logp = 0.0
        for t in range(len(pids), len(ids)):
            keep, probs = kept_set(next_logits(model, ids[:t]), T, k, p)
            if ids[t] not in keep:
                sys.exit(f"{name}: token {ids[t]} at {t} is not in PyTorch's kept set")
            logp += math.log(float(probs[ids[t]]))
        print(f"{name}: {''.join(vocab[i] for i in ids)!r} (log p under PyTorch {logp:.2f})")
        lines.append(f"{name} prompt={','.join(map(str, pids))} max_new={n} temperature={T:g} top_k={k} "
                     f"top_p={p:g} do_sample=1 seed={seed} : {' '.join(map(str, ids))}")
    with open(os.path.join(fx, "gen_golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
