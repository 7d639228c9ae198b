"""Tiny random Llama / Qwen2 checkpoints plus transformers' reference logits for models_test.

Usage: make_hf_fixtures.py OUT_DIR SEED
Writes OUT_DIR/<case>/ (config.json, model.safetensors or shards) and
OUT_DIR/<case>/reference.safetensors with input_ids [B, S] int64 and logits [B, S, V] float32
(one full forward, eager attention, float32). Weights are re-drawn with unit-scale statistics so
logits are O(1) and a wrong op shows up far above the 1e-4 tolerance.
"""
import math
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

B, S = 2, 24


def cases():
    common = dict(vocab_size=96, hidden_size=64, num_hidden_layers=2, intermediate_size=80,
                  max_position_embeddings=64, rms_norm_eps=1e-5)
    yield "llama_gqa_tied", LlamaConfig(**common, num_attention_heads=4, num_key_value_heads=2,
                                        tie_word_embeddings=True)
    yield "llama_mha_bias_linear", LlamaConfig(
        **common, num_attention_heads=4, num_key_value_heads=4, attention_bias=True, mlp_bias=True,
        rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0})
    dyn = dict(common, max_position_embeddings=16)   # S = 24 > 16: the NTK base grows
    yield "llama_dynamic", LlamaConfig(**dyn, num_attention_heads=4, num_key_value_heads=1,
                                       rope_parameters={"rope_type": "dynamic", "factor": 2.0,
                                                        "rope_theta": 10000.0})
    yield "llama_llama3", LlamaConfig(
        **common, num_attention_heads=4, num_key_value_heads=2,
        rope_parameters={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16,
                         "rope_theta": 500000.0})
    yield "llama_yarn_headdim", LlamaConfig(
        **common, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
        rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                         "rope_theta": 10000.0})
    yield "qwen2_gqa_untied", Qwen2Config(**common, num_attention_heads=4, num_key_value_heads=1,
                                          tie_word_embeddings=False)
    yield "qwen2_tied_sharded", Qwen2Config(**common, num_attention_heads=8, num_key_value_heads=2,
                                            tie_word_embeddings=True)


def randomize(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 2 and "embed" not in name:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)


def main():
    out_dir, seed = sys.argv[1], int(sys.argv[2])
    for i, (name, config) in enumerate(cases()):
        gen = torch.Generator().manual_seed(seed * 101 + i)
        config._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
        randomize(model, gen)
        shard = "6KB" if "sharded" in name else "50MB"
        model.save_pretrained(f"{out_dir}/{name}", max_shard_size=shard)
        ids = torch.randint(0, config.vocab_size, (B, S), generator=gen)
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits.float()
        save_file({"input_ids": ids.contiguous(), "logits": logits.contiguous()},
                  f"{out_dir}/{name}/reference.safetensors")
        print(name)


if __name__ == "__main__":
    main()
