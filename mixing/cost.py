"""What a sweep costs beside the run it plans for, in training FLOPs counted by the trainer
(`train.api.model_flops_per_token`: 6 x every weight matrix, embedding and output layers included,
plus causal attention)."""

from __future__ import annotations


def sweep_cost(proxy_model: dict, proxy_seq_len: int, proxy_tokens: int, runs: int,
               target_model: dict, target_seq_len: int, target_tokens: int, vocab_size: int) -> dict:
    """Planned FLOPs of `runs` proxies against the target run's, and the ratio in percent."""
    from train.api import model_flops_per_token  # imported here so that `mixing` loads without torch

    proxy = model_flops_per_token(proxy_model, proxy_seq_len, vocab_size) * proxy_tokens * runs
    target = model_flops_per_token(target_model, target_seq_len, vocab_size) * target_tokens
    return {"proxy_flops": proxy, "target_flops": target, "percent_of_target": 100 * proxy / target}
