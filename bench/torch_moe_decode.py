#!/usr/bin/env python3
"""Plain PyTorch eager baseline for tide_gpu_bench: the same Qwen3-MoE model, same weights.

    python3 bench/torch_moe_decode.py CKPT_DIR [--batches 1,32,128] [--prompt 32] [--steps 64]

CKPT_DIR is what `tide_gpu_bench --save` wrote (config.json + model.safetensors, bf16, HF
names). The model is written out by hand in eager PyTorch as transformers' Qwen3-MoE code
does it (bf16 weights and activations, RMSNorm in f32, q/k norm, rotate-half RoPE, SDPA
attention over a preallocated KV cache with repeated kv heads, softmax top-k router in f32,
and the experts run as transformers' loop over the experts that got tokens). For each batch
size B: B random prompts of --prompt tokens are prefilled, then --steps greedy decode steps
run (argmax fed back), timed with CUDA events after a warm-up run; prints one JSON object.
"""
import argparse
import json
import os
import statistics

import torch
import torch.nn.functional as F
from safetensors.torch import load_file


class Qwen3MoeEager:
    def __init__(self, ckpt):
        with open(os.path.join(ckpt, "config.json")) as f:
            self.c = json.load(f)
        c = self.c
        self.sd = load_file(os.path.join(ckpt, "model.safetensors"), device="cuda")
        self.L, self.H = c["num_hidden_layers"], c["num_attention_heads"]
        self.KV, self.D = c["num_key_value_heads"], c.get("head_dim") or c["hidden_size"] // self.H
        self.E, self.K = c["num_experts"], c["num_experts_per_tok"]
        self.eps = c["rms_norm_eps"]
        theta = c.get("rope_theta") or c.get("rope_parameters", {}).get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.D, 2, dtype=torch.int64, device="cuda").float() / self.D))
        self.experts = []
        for l in range(self.L):
            p = f"model.layers.{l}.mlp.experts."
            self.experts.append([(self.sd[f"{p}{e}.gate_proj.weight"], self.sd[f"{p}{e}.up_proj.weight"],
                                  self.sd[f"{p}{e}.down_proj.weight"]) for e in range(self.E)])

    def w(self, name):
        return self.sd[name]

    def rms(self, x, w):
        xf = x.float()
        return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)

    def rope(self, x, pos):  # x [B, heads, T, D], pos [T]
        freqs = pos.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        x1, x2 = x[..., : self.D // 2], x[..., self.D // 2:]
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def moe(self, l, x):  # x [N, hidden]
        p = f"model.layers.{l}.mlp."
        logits = F.linear(x, self.w(p + "gate.weight"))
        weights = F.softmax(logits, dim=1, dtype=torch.float)
        weights, selected = torch.topk(weights, self.K, dim=-1)
        if self.c.get("norm_topk_prob", True):
            weights /= weights.sum(dim=-1, keepdim=True)
        weights = weights.to(x.dtype)
        out = torch.zeros_like(x)
        mask = F.one_hot(selected, num_classes=self.E).permute(2, 1, 0)
        hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
        for e in hit:
            e = int(e[0])
            idx, top_x = torch.where(mask[e])
            cur = x[top_x]
            g, u, d = self.experts[l][e]
            y = F.linear(F.silu(F.linear(cur, g)) * F.linear(cur, u), d) * weights[top_x, idx, None]
            out.index_add_(0, top_x, y.to(x.dtype))
        return out

    def forward(self, ids, start, kc, vc):  # ids [B, T]; positions start .. start+T-1
        B, T = ids.shape
        pos = torch.arange(start, start + T, device="cuda")
        h = F.embedding(ids, self.w("model.embed_tokens.weight"))
        for l in range(self.L):
            p = f"model.layers.{l}."
            x = self.rms(h, self.w(p + "input_layernorm.weight"))
            q = F.linear(x, self.w(p + "self_attn.q_proj.weight")).view(B, T, self.H, self.D)
            k = F.linear(x, self.w(p + "self_attn.k_proj.weight")).view(B, T, self.KV, self.D)
            v = F.linear(x, self.w(p + "self_attn.v_proj.weight")).view(B, T, self.KV, self.D)
            q = self.rope(self.rms(q, self.w(p + "self_attn.q_norm.weight")).transpose(1, 2), pos)
            k = self.rope(self.rms(k, self.w(p + "self_attn.k_norm.weight")).transpose(1, 2), pos)
            kc[l][:, :, start:start + T] = k
            vc[l][:, :, start:start + T] = v.transpose(1, 2)
            keys = kc[l][:, :, : start + T].repeat_interleave(self.H // self.KV, dim=1)
            vals = vc[l][:, :, : start + T].repeat_interleave(self.H // self.KV, dim=1)
            if T > 1:
                a = F.scaled_dot_product_attention(q, keys, vals, is_causal=(start == 0))
            else:
                a = F.scaled_dot_product_attention(q, keys, vals)
            a = a.transpose(1, 2).reshape(B, T, self.H * self.D)
            h = h + F.linear(a, self.w(p + "self_attn.o_proj.weight"))
            x = self.rms(h, self.w(p + "post_attention_layernorm.weight"))
            h = h + self.moe(l, x.reshape(B * T, -1)).view(B, T, -1)
        h = self.rms(h[:, -1:], self.w("model.norm.weight"))
        return F.linear(h, self.w("lm_head.weight"))[:, -1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("--batches", default="1,32,128")
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--steps", type=int, default=64)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    m = Qwen3MoeEager(a.ckpt)
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "decode": []}
    gen = torch.Generator(device="cpu").manual_seed(7)
    prompts = {}
    if os.path.exists(os.path.join(a.ckpt, "prompts.json")):
        with open(os.path.join(a.ckpt, "prompts.json")) as f:
            prompts = json.load(f)
    with torch.inference_mode():
        for B in [int(x) for x in a.batches.split(",")]:
            ids = torch.randint(0, m.c["vocab_size"], (B, a.prompt), generator=gen).cuda()
            if str(B) in prompts:  # the prompts tide_gpu_bench decoded
                ids = torch.tensor(prompts[str(B)], device="cuda")
            T = a.prompt + a.steps + 1
            kc = [torch.empty(B, m.KV, T, m.D, dtype=torch.bfloat16, device="cuda") for _ in range(m.L)]
            vc = [torch.empty(B, m.KV, T, m.D, dtype=torch.bfloat16, device="cuda") for _ in range(m.L)]
            m.forward(ids[:, :-1], 0, kc, vc)
            tps, first = [], None
            for rep in range(3):  # rep 0 warms up
                nxt = ids[:, -1:]
                start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for s in range(a.steps):
                    logits = m.forward(nxt, a.prompt - 1 + s, kc, vc)
                    nxt = logits.argmax(dim=-1, keepdim=True)
                    if s == 0 and first is None:
                        first = nxt[:, 0].tolist()
                stop.record()
                torch.cuda.synchronize()
                if rep > 0:
                    tps.append(B * a.steps / (start.elapsed_time(stop) / 1e3))
            out["decode"].append({"batch": B, "tokens_per_s": tps, "tokens_per_s_median": statistics.median(tps),
                                  "first_step_tokens": first})
            print(f"torch eager batch {B:4d}: {statistics.median(tps):9.0f} tok/s", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
