#!/usr/bin/python3
"""PyTorch generation throughput for the tiny preset (V 65, random weights), beside
bench/bench_generate.c: batch 1 and 8, 200 new tokens from an 8-token prompt,
temperature-1 sampling.

  recompute: the teaching package's loop: a full forward over the (cropped) context
             at every step, logits[:, -1], softmax, multinomial.
  KV cache:  the same model, one new token per step with per-layer K/V caches
             (preallocated [B, NH, max_len, hs] buffers).

The cache loop is checked against the recompute loop (greedy, identical tokens)
before anything is timed. Run: /usr/bin/python3 bench/torch_generate.py [--new N]
"""
import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from reference_model import PRESETS, TinyTransformerLM  # noqa: E402

V = 65


@torch.no_grad()
def gen_recompute(model, prompt, n, greedy=False):
    idx = prompt.clone()
    T = model.embedding.positional_encoding.pe.size(0)
    for _ in range(n):
        logits = model(idx[:, -T:])[:, -1, :]
        if greedy:
            nxt = logits.argmax(-1, keepdim=True)
        else:
            nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1)
        idx = torch.cat([idx, nxt], dim=1)
    return idx


class Cached:
    """Incremental decoding over the reference model's weights."""

    def __init__(self, model, B):
        self.m = model
        blk = model.blocks[0].self_attn
        self.NH, self.hs = blk.n_heads, blk.d_k
        self.C = self.NH * self.hs
        self.T = model.embedding.positional_encoding.pe.size(0)
        L = len(model.blocks)
        self.k = torch.zeros(L, B, self.NH, self.T, self.hs)
        self.v = torch.zeros(L, B, self.NH, self.T, self.hs)

    def step(self, tok, start):
        """tok [B, t] at positions start..start+t-1 -> logits of the last [B, V]."""
        m, B, t = self.m, tok.size(0), tok.size(1)
        x = m.embedding.token_embedding(tok) + m.embedding.positional_encoding.pe[start:start + t]
        end = start + t
        mask = torch.full((t, end), float("-inf")).triu(start + 1)
        for l, blk in enumerate(m.blocks):
            a = blk.self_attn
            h = blk.norm1(x)
            q = a.W_q(h).view(B, t, self.NH, self.hs).transpose(1, 2)
            self.k[l, :, :, start:end] = a.W_k(h).view(B, t, self.NH, self.hs).transpose(1, 2)
            self.v[l, :, :, start:end] = a.W_v(h).view(B, t, self.NH, self.hs).transpose(1, 2)
            s = q @ self.k[l, :, :, :end].transpose(-1, -2) / math.sqrt(self.hs) + mask
            y = (torch.softmax(s, dim=-1) @ self.v[l, :, :, :end]).transpose(1, 2).reshape(B, t, self.C)
            x = x + a.W_o(y)
            x = x + blk.feed_forward(blk.norm2(x))
        return m.lm_head(m.ln_f(x[:, -1]))


@torch.no_grad()
def gen_cached(model, prompt, n, greedy=False):
    B = prompt.size(0)
    c = Cached(model, B)
    idx = prompt.clone()
    logits = c.step(idx, 0)
    for i in range(n):
        if greedy:
            nxt = logits.argmax(-1, keepdim=True)
        else:
            nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1)
        idx = torch.cat([idx, nxt], dim=1)
        if i + 1 < n:
            L = idx.size(1)
            if L > c.T:  # window slides: rebuild the cache over the last T tokens
                logits = c.step(idx[:, -c.T:], 0)
            else:
                logits = c.step(nxt, L - 1)
    return idx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--new", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = TinyTransformerLM(V, **PRESETS["tiny"]).eval()
    prompt1 = torch.tensor([[18, 47, 56, 57, 58, 1, 15, 47]])
    # verify: the cache loop reproduces the recompute loop (greedy)
    a = gen_recompute(model, prompt1, 20, greedy=True)
    b = gen_cached(model, prompt1, 20, greedy=True)
    if not torch.equal(a, b):
        sys.exit("torch_generate: cached and recompute loops differ")
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    for B in (1, 8):
        prompt = prompt1.repeat(B, 1)
        for name, fn, reps in (("PyTorch, KV cache", gen_cached, args.reps),
                               ("PyTorch, recompute", gen_recompute, 1)):
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn(model, prompt, args.new)
                ts.append(time.perf_counter() - t0)
            ts.sort()
            t = ts[len(ts) // 2]
            print(f"{name + ' (median)':<26} {B:6d} {1e3 * t:10.2f} {B * args.new / t:12.0f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
