#!/usr/bin/env python3
"""Draws a fresh random Qwen3MoeForCausalLM with transformers and writes what Tide's
CudaModelTest.MatchesTransformersLogits reads from $TIDE_HF_PARITY_DIR:
    OUT_DIR/f32/            save_pretrained (config.json + model.safetensors, f32)
    OUT_DIR/reference_logits.json   {"tokens": [...], "logits": [[...], ...]} (f32, eager
                                    attention, computed on the CPU in float64-free f32)
Run where transformers and torch are installed (the GPU device machine):
    python3 bench/hf_parity.py OUT_DIR [SEED]
Larger than tests/data/qwen3_moe_tiny (vocab 1000, hidden 128, 3 layers, head_dim 32,
8 experts top-2, 48 tokens) and drawn from SEED, so the GPU path is checked on weights it
has never seen.
"""
import json
import os
import random
import sys

import torch
import transformers
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM


def main(out_dir, seed):
    torch.manual_seed(seed)
    config = Qwen3MoeConfig(
        vocab_size=1000, hidden_size=128, intermediate_size=256, moe_intermediate_size=64,
        num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
        max_position_embeddings=512, rms_norm_eps=1e-6, rope_theta=1000000.0,
        num_experts=8, num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
        mlp_only_layers=[], tie_word_embeddings=False, router_aux_loss_coef=0.001,
        attn_implementation="eager")
    model = Qwen3MoeForCausalLM(config).eval()
    with torch.no_grad():  # random init leaves norms at 1: perturb them so they matter
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    rng = random.Random(seed)
    tokens = [rng.randrange(config.vocab_size) for _ in range(48)]
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0].float()
    model.save_pretrained(os.path.join(out_dir, "f32"), safe_serialization=True)
    with open(os.path.join(out_dir, "reference_logits.json"), "w") as f:
        json.dump({"transformers_version": transformers.__version__,
                   "torch_version": torch.__version__, "seed": seed, "tokens": tokens,
                   "logits": [[float(x) for x in row] for row in logits]}, f)
    print(f"hf_parity: transformers {transformers.__version__}, seed {seed}, "
          f"{len(tokens)} tokens, wrote {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20261123)
