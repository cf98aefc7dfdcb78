#!/usr/bin/python3
"""PyTorch side of bench/bench_train.c: the same model (scripts/reference_model.py,
the teaching package's TinyTransformerLM architecture), the same step
(zero_grad, forward, cross-entropy, backward, clip_grad_norm_ 1.0, AdamW with
betas 0.9/0.95, weight decay on matrices/embeddings), 2 threads.

    /usr/bin/python3 bench/torch_train.py [--steps N] [--only a|b]

Prints one line per configuration:
    torch (a) T=64 B=12 dropout 0: median 123.4 ms/step, 6225 tokens/s (torch 1.13.0, 2 threads, OPENBLAS_CORETYPE=...)
"""

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from reference_model import PRESETS, TinyTransformerLM, decay_groups  # noqa: E402


def run(label, T, B, dropout, steps):
    torch.manual_seed(1337)
    cfg = dict(PRESETS["tiny"])
    cfg["dropout"] = dropout
    model = TinyTransformerLM(vocab_size=65, **cfg)
    model.train()
    opt = torch.optim.AdamW(decay_groups(model, 0.01), lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    x = torch.randint(0, 65, (B, T))
    y = torch.randint(0, 65, (B, T))
    times = []
    for s in range(steps + 3):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).view(-1, 65), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if s >= 3:
            times.append(dt)
    med = statistics.median(times)
    print(f"  torch {label}: median {med * 1e3:.2f} ms/step (min {min(times) * 1e3:.2f}), "
          f"{B * T / med:.0f} tokens/s (torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')})", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--only", choices=["a", "b"])
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.only in (None, "a"):
        run("(a) T=64 B=12 dropout 0", 64, 12, 0.0, args.steps)
    if args.only in (None, "b"):
        run("(b) T=256 B=16 dropout 0.1", 256, 16, 0.1, max(1, (args.steps + 5) // 6))


if __name__ == "__main__":
    main()
