#!/usr/bin/python3
"""Writes the model reference fixtures under tests/fixtures/ (run with Debian's
/usr/bin/python3 and python3-torch; the C suite itself never needs PyTorch).

    /usr/bin/python3 scripts/make_fixtures.py

Files (safetensors layout: 8-byte little-endian header length, JSON header,
raw little-endian data; written by the few lines below, no package needed):

  tests/fixtures/model_ref.safetensors          sinusoidal positions, tied head
  tests/fixtures/model_ref_learned.safetensors  learned positions, untied head

Config of both: V=11, C=16, NH=2, L=2, F=32, max_len=16, dropout 0; batch B=2, T=8.
The parameters start from the package's init (seeded), then biases and
LayerNorm get a small random offset (weights 1 + N(0, 0.1), biases N(0, 0.1))
and the block weight matrices are scaled to std 0.2, so that every gradient
(attention's W_q/W_k included) is well away from zero.

Tensors in each file (names documented in tests/fixture.h):
  <state-dict name>        F32  every state_dict() entry (pe and a tied lm_head included)
  tokens, targets          I32  [B, T]
  logits                   F32  [B, T, V]   eval forward
  loss                     F32  [1]         mean cross-entropy
  grad.<parameter name>    F32  d loss / d param (named_parameters(): a tied lm_head appears
                                 only as embedding.token_embedding.embedding.weight)
  adamw_losses             F32  [11]  loss at the forward of AdamW steps 1..10, then after step 10
  adamw_grad_norms         F32  [10]  global grad L2 norm before clipping, steps 1..10
  adamw.<parameter name>   F32  parameters after the 10 steps
AdamW: lr 1e-3 constant, betas (0.9, 0.95), eps 1e-8, weight decay 0.01 on
2-D parameters (weight matrices, embeddings) and 0 on biases/LayerNorm,
torch.nn.utils.clip_grad_norm_(1.0) before each step, the same batch every step.
"""

import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_model import TinyTransformerLM, decay_groups  # noqa: E402

CFG = dict(vocab_size=11, d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=16, dropout=0.0)
B, T = 2, 8


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.float32:
            dt, raw = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype in (torch.int32, torch.int64):
            dt, raw = "I32", t.to(torch.int32).numpy().astype("<i4").tobytes()
        else:
            raise TypeError(name)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def make(path, positional, tie, seed):
    torch.manual_seed(seed)
    model = TinyTransformerLM(**CFG, positional=positional, tie_weights=tie)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
            elif p.dim() == 1:  # LayerNorm weight
                p.add_(0.1 * torch.randn_like(p))
            elif name.startswith("blocks."):  # std 0.2: attention far from uniform
                p.mul_(10.0)
    tokens = torch.randint(0, CFG["vocab_size"], (B, T))
    targets = torch.randint(0, CFG["vocab_size"], (B, T))
    out = {k: v.clone() for k, v in model.state_dict().items()}
    out["tokens"], out["targets"] = tokens, targets

    model.eval()
    logits = model(tokens)
    loss = torch.nn.functional.cross_entropy(logits.view(-1, CFG["vocab_size"]), targets.view(-1))
    model.zero_grad()
    loss.backward()
    out["logits"] = logits.detach().clone()
    out["loss"] = loss.detach().reshape(1).clone()
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.detach().clone()

    opt = torch.optim.AdamW(decay_groups(model, 0.01), lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    losses, norms = [], []
    model.train()  # dropout is 0: train and eval agree
    for _ in range(10):
        logits = model(tokens)
        loss = torch.nn.functional.cross_entropy(logits.view(-1, CFG["vocab_size"]), targets.view(-1))
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)))
        opt.step()
    with torch.no_grad():
        logits = model(tokens)
        losses.append(torch.nn.functional.cross_entropy(
            logits.view(-1, CFG["vocab_size"]), targets.view(-1)).item())
    out["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    out["adamw_grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    for name, p in model.named_parameters():
        out["adamw." + name] = p.detach().clone()

    meta = dict(CFG, positional=positional, tie_weights=int(tie), B=B, T=T, torch=torch.__version__)
    write_safetensors(path, out, {"config": json.dumps(meta)})
    print(f"{path}: loss {out['loss'].item():.6f}, adamw {losses[0]:.6f} -> {losses[-1]:.6f}")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    d = os.path.join(root, "tests", "fixtures")
    os.makedirs(d, exist_ok=True)
    make(os.path.join(d, "model_ref.safetensors"), "sinusoidal", True, 1234)
    make(os.path.join(d, "model_ref_learned.safetensors"), "learned", False, 4321)


if __name__ == "__main__":
    main()
