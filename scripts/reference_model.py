"""A PyTorch re-implementation of the teaching package's TinyTransformerLM.

Written from the description in ../shared/reference/upstream-behaviour.md §4
(and the module/attribute names of shiong-tan/tiny-transformer-build), so that
the C port can be checked against PyTorch without the package installed.

Its state_dict() has exactly the package's keys and shapes:

    embedding.token_embedding.embedding.weight            [V, C]
    embedding.positional_encoding.pe                      [max_len, C]  (sinusoidal buffer)
      or embedding.positional_encoding.position_embeddings.weight [max_len, C] (learned)
    blocks.{i}.self_attn.W_{q,k,v,o}.{weight,bias}        [C, C], [C]
    blocks.{i}.feed_forward.fc1.{weight,bias}             [F, C], [F]
    blocks.{i}.feed_forward.fc2.{weight,bias}             [C, F], [C]
    blocks.{i}.norm{1,2}.{weight,bias}                    [C]
    ln_f.{weight,bias}                                    [C]
    lm_head.weight                                        [V, C]  (the embedding when tied)

so a state dict saved from either loads into the other with strict=True.

Architecture (pre-LN GPT decoder): token embedding * sqrt(C) + positions,
dropout; per block x = x + Drop(MHA(LN1(x))), x = x + Drop(FFN(LN2(x)));
MHA with W_q/W_k/W_v/W_o (bias), scores / sqrt(hs) with an additive causal
mask, softmax, dropout on the weights; FFN fc1 -> exact GELU -> fc2; LN eps
1e-5; final LN; head tied to the unscaled embedding, no bias.

One deliberate difference from the package, as the C port (issue 3): the FFN
branch gets dropout once (the package applies it twice). With dropout 0, as
in every fixture, the two are identical.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size, d_model):
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model)

    def forward(self, tokens):
        return self.embedding(tokens) * math.sqrt(self.d_model)


class SinusoidalPositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1).float()
        div = torch.exp(torch.arange(0, d_model, 2).float() * -(math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)
        self.register_buffer("pe", pe)  # [max_len, C]

    def forward(self, x):
        return x + self.pe[: x.size(1)]


class LearnedPositionalEmbedding(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.position_embeddings = nn.Embedding(max_len, d_model)

    def forward(self, x):
        pos = torch.arange(x.size(1), device=x.device)
        return x + self.position_embeddings(pos)


class TransformerEmbedding(nn.Module):
    def __init__(self, vocab_size, d_model, max_len, positional, dropout):
        super().__init__()
        self.token_embedding = TokenEmbedding(vocab_size, d_model)
        if positional == "sinusoidal":
            self.positional_encoding = SinusoidalPositionalEncoding(d_model, max_len)
        elif positional == "learned":
            self.positional_encoding = LearnedPositionalEmbedding(max_len, d_model)
        else:
            raise ValueError(f"unknown positional '{positional}'")
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens):
        return self.dropout(self.positional_encoding(self.token_embedding(tokens)))


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, dropout):
        super().__init__()
        assert d_model % n_heads == 0
        self.n_heads, self.d_k = n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        split = lambda t: t.view(B, T, self.n_heads, self.d_k).transpose(1, 2)  # [B, NH, T, hs]
        q, k, v = split(self.W_q(x)), split(self.W_k(x)), split(self.W_v(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)
        mask = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)  # additive causal
        att = self.dropout(torch.softmax(scores + mask, dim=-1))
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.W_o(y)


class FeedForward(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.fc2 = nn.Linear(d_ff, d_model)
        self.activation = nn.GELU()

    def forward(self, x):
        return self.fc2(self.activation(self.fc1(x)))


class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.dropout1(self.self_attn(self.norm1(x)))
        return x + self.dropout2(self.feed_forward(self.norm2(x)))


class TinyTransformerLM(nn.Module):
    def __init__(self, vocab_size, d_model, n_heads, n_layers, d_ff, max_len=1024, dropout=0.1,
                 positional="sinusoidal", tie_weights=True):
        super().__init__()
        self.embedding = TransformerEmbedding(vocab_size, d_model, max_len, positional, dropout)
        self.blocks = nn.ModuleList(
            [TransformerBlock(d_model, n_heads, d_ff, dropout) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = self.embedding.token_embedding.embedding.weight
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, tokens):
        x = self.embedding(tokens)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))  # [B, T, V]


PRESETS = {
    "tiny": dict(d_model=128, n_heads=4, n_layers=4, d_ff=512, max_len=512, dropout=0.1),
    "small": dict(d_model=256, n_heads=8, n_layers=6, d_ff=1024, max_len=1024, dropout=0.1),
    "medium": dict(d_model=512, n_heads=8, n_layers=8, d_ff=2048, max_len=1024, dropout=0.1),
    "large": dict(d_model=768, n_heads=12, n_layers=12, d_ff=3072, max_len=2048, dropout=0.1),
}


def decay_groups(model, weight_decay):
    """AdamW groups as the C port: decay on weight matrices and embeddings, not on biases/LayerNorm."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.dim() < 2 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]
