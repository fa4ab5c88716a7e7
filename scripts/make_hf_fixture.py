#!/usr/bin/env python3
"""Writes the Hugging Face checkpoint fixture the engine's loader is tested against.

Run where `transformers` and `torch` are installed (the GPU device machine has both; this
machine has neither):
    python3 scripts/make_hf_fixture.py OUT_DIR
It builds a small random Qwen3MoeForCausalLM with a fixed seed, saves it with
save_pretrained (safetensors, f32 and bf16), and records the model's logits for a fixed
token sequence (f32, eager attention) in reference_logits.json, so Tide's forward can be
checked against transformers' own.
"""
import json
import os
import sys

import torch
import transformers
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM


def main(out_dir):
    torch.manual_seed(1234)
    config = Qwen3MoeConfig(
        vocab_size=320,
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        num_experts=8,
        num_experts_per_tok=2,
        norm_topk_prob=True,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        tie_word_embeddings=False,
        router_aux_loss_coef=0.001,
        attn_implementation="eager",
    )
    model = Qwen3MoeForCausalLM(config).eval()
    # Random init leaves norms at 1; perturb them so the test sees their weights used.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    tokens = [1, 17, 42, 99, 5, 250, 3, 77, 300, 12, 12, 64]
    with torch.no_grad():
        out = model(torch.tensor([tokens]), output_router_logits=True)
    logits = out.logits[0].float()

    f32_dir = os.path.join(out_dir, "f32")
    bf16_dir = os.path.join(out_dir, "bf16")
    model.save_pretrained(f32_dir, safe_serialization=True)
    model.to(torch.bfloat16).save_pretrained(bf16_dir, safe_serialization=True)
    with open(os.path.join(out_dir, "reference_logits.json"), "w") as f:
        json.dump({
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "tokens": tokens,
            "logits": [[round(float(x), 7) for x in row] for row in logits],
        }, f)
    from safetensors import safe_open
    with safe_open(os.path.join(f32_dir, "model.safetensors"), "pt") as f:
        for k in sorted(f.keys())[:40]:
            print(k, tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype())
        print("tensors:", len(list(f.keys())))


if __name__ == "__main__":
    main(sys.argv[1])
