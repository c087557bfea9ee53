"""Export to a transformers `LlamaForCausalLM` checkpoint (safetensors + config + tokenizer).

The model's parameter names are transformers' own, so export gathers the full state dict (a
collective under FSDP: every rank calls this) and rank 0 loads it strictly into a fresh
`LlamaForCausalLM` before saving, which checks every name and shape on the way.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from .model import ModelConfig


def llama_config(cfg: ModelConfig, max_positions: int, eos_id: int | None):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.dim, intermediate_size=cfg.ffn_dim,
                       num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
                       num_key_value_heads=cfg.n_kv_heads, head_dim=cfg.head_dim, rms_norm_eps=cfg.norm_eps,
                       rope_theta=cfg.rope_theta, max_position_embeddings=max_positions,
                       tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                       bos_token_id=eos_id, eos_token_id=eos_id, hidden_act="silu")


def export_hf(model, cfg: ModelConfig, tokenizer_dir: Path, out: Path, max_positions: int) -> None:
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if dist.is_initialized() and dist.get_rank() != 0:
        return
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    with torch.device("meta"):
        hf = LlamaForCausalLM(llama_config(cfg, max_positions, tokenizer.eos_token_id))
    hf.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    hf.save_pretrained(out)
    tokenizer.save_pretrained(out)
