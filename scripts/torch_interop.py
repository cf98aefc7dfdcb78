#!/usr/bin/python3
"""tt checkpoints <-> the PyTorch reference model (scripts/reference_model.py,
the teaching package's TinyTransformerLM with the same state_dict keys).

Run with Debian's /usr/bin/python3 (python3-torch); the C suite never needs it.

    /usr/bin/python3 scripts/torch_interop.py write-fixtures
        Writes, from PyTorch, tt checkpoints that the C tests load
        (tests/fixtures/torch_ckpt.safetensors: sinusoidal, tied;
        tests/fixtures/torch_ckpt_learned.safetensors: learned, untied) and, for
        each, a reference file NAME_ref.safetensors (tests/fixture.h layout)
        with "tokens" I32 [1, T], "logits" F32 [1, T, V] and "loss" F32 [1].

    /usr/bin/python3 scripts/torch_interop.py check MODEL.safetensors --text TEXT [--tt build/tt]
        Loads a tt checkpoint into the PyTorch model with
        load_state_dict(strict=True), computes the mean next-token loss of TEXT
        (the windows of `tt eval`) and compares it with `tt eval --json`; then
        writes the PyTorch state dict back as a new safetensors file, checks
        that `tt eval` on that file gives the same loss, and prints the max
        |logit| difference between PyTorch's logits and the file's round trip.

torch 1.13 has no `safetensors` module, so the format is written and read by
the few lines below (8-byte little-endian header length, JSON header padded
with spaces to 8 bytes, raw little-endian data).
"""

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from reference_model import TinyTransformerLM  # noqa: E402

ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", (name, e["dtype"])
        b, en = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + b:base + en]), dtype=torch.float32)
        tensors[name] = t.reshape(e["shape"]).clone()
    return tensors, meta


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.float32:
            dt, raw = "F32", t.numpy().astype("<f4").tobytes()
        else:
            dt, raw = "I32", t.to(torch.int32).numpy().astype("<i4").tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}  # values must be strings
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def model_from_config(cfg):
    return TinyTransformerLM(cfg["vocab_size"], cfg["d_model"], cfg["n_heads"], cfg["n_layers"],
                             cfg["d_ff"], max_len=cfg["max_len"], dropout=cfg["dropout"],
                             positional=cfg["positional"], tie_weights=cfg["tie_weights"])


def tt_metadata(cfg, vocab):
    return {"format": "tiny-transformer", "format_version": "1",
            "config": json.dumps(cfg, separators=(",", ":")),
            "vocab": json.dumps(vocab, ensure_ascii=False, separators=(",", ":"))}


def load_tt(path):
    tensors, meta = read_safetensors(path)
    assert meta.get("format") == "tiny-transformer", meta.get("format")
    cfg = json.loads(meta["config"])
    vocab = json.loads(meta["vocab"])
    model = model_from_config(cfg)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model, cfg, vocab


def eval_loss(model, ids, max_len):
    """Mean CE as `tt eval`: windows of max_len + 1 tokens every max_len tokens."""
    total, count, logits_all = 0.0, 0, []
    with torch.no_grad():
        start = 0
        while start + 1 < len(ids):
            w = ids[start:start + max_len + 1]
            x = torch.tensor([w[:-1]])
            y = torch.tensor([w[1:]])
            logits = model(x)
            logits_all.append(logits)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            total += loss.item() * (len(w) - 1)
            count += len(w) - 1
            start += max_len
    return total / count, count, logits_all


def tt_eval(tt, path, text, window):
    # --window: tt eval's default is the checkpoint's train_seq_len when it records one
    out = subprocess.run([tt, "eval", "--model", path, "--text", text, "--window", str(window), "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def cmd_check(args):
    model, cfg, vocab = load_tt(args.model)
    print(f"loaded {args.model} into the PyTorch model with load_state_dict(strict=True): {cfg}")
    stoi = {c: i for i, c in enumerate(vocab)}
    ids = [stoi[c] for c in args.text]
    loss, count, logits = eval_loss(model, ids, cfg["max_len"])
    got = tt_eval(args.tt, args.model, args.text, cfg["max_len"])
    print(f"PyTorch loss {loss:.7f} over {count} tokens; tt eval {got['loss']:.7f} over {got['tokens']}")
    ok = abs(loss - got["loss"]) <= 1e-5 * max(1.0, abs(loss)) and count == got["tokens"]
    # and back: the PyTorch state dict as a tt checkpoint
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "from_torch.safetensors")
        meta = tt_metadata(cfg, vocab)
        # the training record (train_seq_len, ...), when the file has one, travels with it
        meta.update({k: v for k, v in read_safetensors(args.model)[1].items() if k.startswith("train_")})
        write_safetensors(p, model.state_dict(), meta)
        back = tt_eval(args.tt, p, args.text, cfg["max_len"])
        print(f"a file written from PyTorch: tt eval {back['loss']:.7f}")
        ok = ok and abs(back["loss"] - got["loss"]) <= 1e-7 * max(1.0, abs(loss))
        model2, _, _ = load_tt(p)
        _, _, logits2 = eval_loss(model2, ids, cfg["max_len"])
        diff = max((a - b).abs().max().item() for a, b in zip(logits, logits2))
        print(f"max |logit| difference after the round trip: {diff:.3g}")
        ok = ok and diff == 0.0
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


def make_fixture(name, positional, tie, seed):
    torch.manual_seed(seed)
    vocab = list("\n !,.?abcdeé")  # 12 characters, code-point order
    assert vocab == sorted(vocab)
    cfg = dict(vocab_size=len(vocab), d_model=16, n_heads=2, n_layers=2, d_ff=32, max_len=32,
               dropout=0.1, positional=positional, tie_weights=tie)
    model = model_from_config(cfg)
    with torch.no_grad():  # move away from the init so that logits are far from uniform
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    model.eval()
    path = os.path.join(FIXTURES, name + ".safetensors")
    write_safetensors(path, model.state_dict(), tt_metadata(cfg, vocab))
    tokens = torch.randint(0, len(vocab), (1, 20))
    with torch.no_grad():
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), tokens[:, 1:].reshape(-1))
    write_safetensors(os.path.join(FIXTURES, name + "_ref.safetensors"),
                      {"tokens": tokens.to(torch.int32), "logits": logits.contiguous(),
                       "loss": loss.reshape(1)}, {"torch": torch.__version__})
    print(f"wrote {path} (loss {loss.item():.6f})")


def cmd_write_fixtures(_args):
    os.makedirs(FIXTURES, exist_ok=True)
    make_fixture("torch_ckpt", "sinusoidal", True, 7)
    make_fixture("torch_ckpt_learned", "learned", False, 8)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("write-fixtures")
    c = sub.add_parser("check")
    c.add_argument("model")
    c.add_argument("--text", required=True)
    c.add_argument("--tt", default=os.path.join(ROOT, "build", "tt"))
    args = ap.parse_args()
    return cmd_write_fixtures(args) if args.cmd == "write-fixtures" else cmd_check(args)


if __name__ == "__main__":
    sys.exit(main())
