"""A Llama-style decoder (RMSNorm, RoPE, SwiGLU, grouped-query attention), readable top to bottom.

Parameter names follow transformers' `LlamaForCausalLM`, so export is a copy of the state dict
(train/export.py). The elementwise ops and the loss go through a kernels object (train/kernels.py):
plain torch on CPU, Liger's fused Triton kernels on GPU.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    vocab_size: int = 32000
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


# Named sizes. vocab_size comes from the tokenizer; counts below are for a 32k vocabulary.
SIZES: dict[str, dict] = {
    "tiny": dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=192),  # tests, proxies
    "small": dict(dim=256, n_layers=4, n_heads=8, n_kv_heads=4, ffn_dim=768),  # CPU benchmark
    "125M": dict(dim=768, n_layers=12, n_heads=12, n_kv_heads=4, ffn_dim=2048),
    "350M": dict(dim=1024, n_layers=24, n_heads=16, n_kv_heads=4, ffn_dim=2816),
    "1B": dict(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, ffn_dim=8192),
}


def model_config(size: str | None = None, **fields) -> ModelConfig:
    """A named size, with any field overridden (vocab_size always comes from the tokenizer)."""
    if size is not None and size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; choose one of {', '.join(SIZES)}")
    base = dict(SIZES[size]) if size else {}
    base.update({k: v for k, v in fields.items() if v is not None})
    return ModelConfig(**base)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, kernels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps
        self.kernels = kernels

    def forward(self, x):
        return self.kernels.rms_norm(x, self.weight, self.eps)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.q_proj = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=False)
        self.kernels = kernels

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.kernels.rope(q, k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.n_kv_heads != self.n_heads)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.dim, cfg.ffn_dim, bias=False)
        self.up_proj = nn.Linear(cfg.dim, cfg.ffn_dim, bias=False)
        self.down_proj = nn.Linear(cfg.ffn_dim, cfg.dim, bias=False)
        self.kernels = kernels

    def forward(self, x):
        return self.down_proj(self.kernels.swiglu(self.gate_proj(x), self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, kernels):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.dim, cfg.norm_eps, kernels)
        self.self_attn = Attention(cfg, kernels)
        self.post_attention_layernorm = RMSNorm(cfg.dim, cfg.norm_eps, kernels)
        self.mlp = MLP(cfg, kernels)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    """Embeddings, blocks and final norm: transformers' `LlamaModel` (the `model.` prefix)."""

    def __init__(self, cfg: ModelConfig, kernels):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg, kernels) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps, kernels)

    def forward(self, tokens, cos, sin):
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x)


class Transformer(nn.Module):
    autocast_dtype: torch.dtype | None = None  # set by train/parallelize.py for bf16 on CPU

    def __init__(self, cfg: ModelConfig, kernels):
        super().__init__()
        self.cfg = cfg
        self.kernels = kernels
        self.model = Decoder(cfg, kernels)
        self.lm_head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)

    def rope_tables(self, seq_len: int, device, dtype):
        """cos/sin of shape (1, seq, head_dim) in transformers' rotate-half layout."""
        hd = self.cfg.head_dim
        inv_freq = 1.0 / (self.cfg.rope_theta ** (torch.arange(0, hd, 2, device=device, dtype=torch.float32) / hd))
        angles = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
        emb = torch.cat([angles, angles], dim=-1)[None]
        return emb.cos().to(dtype), emb.sin().to(dtype)

    def hidden(self, tokens):
        cos, sin = self.rope_tables(tokens.shape[1], tokens.device, self.model.embed_tokens.weight.dtype)
        return self.model(tokens, cos, sin)

    def forward(self, tokens, targets=None):
        """Logits when `targets` is None, else the mean next-token loss (fused with the output layer)."""
        with torch.autocast(tokens.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            h = self.hidden(tokens)
            if targets is None:
                return self.lm_head(h)
            return self.kernels.linear_cross_entropy(h.flatten(0, 1), self.lm_head.weight, targets.flatten())

    @torch.no_grad()
    def init_weights(self, seed: int):
        """GPT-2 style init: normal(0, std), output projections scaled by depth; norms at one."""
        gen = torch.Generator().manual_seed(seed)
        std = self.cfg.init_std
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.fill_(1.0)
                continue
            scale = std / math.sqrt(2 * self.cfg.n_layers) if name.endswith(("o_proj.weight", "down_proj.weight")) else std
            p.copy_(torch.randn(p.shape, generator=gen) * scale)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def flops_per_token(cfg: ModelConfig, seq_len: int, count_embedding: bool = False) -> float:
    """Training FLOPs per token: 6 x the matmul parameters (output layer included) + causal attention,
    6 * n_layers * seq * dim (PaLM appendix B's 12·L·d·T, halved because half the scores are masked).
    `count_embedding` adds 6 x the embedding table, as compute-budget comparisons (mixing cost) do."""
    d, f, L = cfg.dim, cfg.ffn_dim, cfg.n_layers
    kv = cfg.n_kv_heads * cfg.head_dim
    params = L * (d * d * 2 + d * kv * 2 + 3 * d * f) + d * cfg.vocab_size
    if count_embedding:
        params += d * cfg.vocab_size
    return 6.0 * params + 6.0 * L * seq_len * d
