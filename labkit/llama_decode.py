"""A Llama's decode loop on one page: the lab's sampler for its tiny models.

Why not `model.generate`: for a 1M-parameter model the arithmetic of one token is tiny
and the time goes to the machinery around it (a module call per layer and per
projection, mask and cache objects rebuilt every step). The same weights, read once
into a few tensors, decode with a fraction of the calls:

    x      = embed[ids]                                             (N, n, D)
    per layer:
      q,k,v = rms(x) @ [Wq; Wk; Wv]^T            one fused projection, then RoPE on q and k
      K,V  <- k, v written into a cache preallocated for P + max_new_tokens positions
      x     = x + softmax(q K^T / sqrt(d) + bias) V @ Wo^T    bias: -inf on padding and the future
      x     = x + (silu(rms(x) @ Wg^T) * (rms(x) @ Wu^T)) @ Wd^T   (gate and up fused)
    logits = rms(x[:, -1]) @ lm_head^T                              (N, V), the last position only

Sampling is `generate`'s: greedy is the argmax of the float32 logits; otherwise one
`torch.multinomial` draw per step for all N rows from softmax(logits / T), from the
global generator, so under the same seed the same tokens come out (tested against
`generate`, as are greedy tokens). Rows that said EOS get the pad token, and the loop
stops when every row has, exactly as `generate` does.

`supports(model)` says whether a model is a Llama this page computes exactly (the lab's
tiny models are); `sampling.generate_completions` uses `model.generate` for the rest.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supports(model: torch.nn.Module) -> bool:
    """True for a plain float32 `LlamaForCausalLM` of `nn.Linear` layers on the CPU: SiLU MLP, no biases,
    unscaled RoPE, and a generation config that asks for nothing beyond its token ids (a hub model's may
    ask `generate` for min-p, suppressed tokens, ...). Where the exactness is tested: in bfloat16, and on a
    GPU's attention kernels, rounding differs from this page's, so those keep `generate`."""
    config = getattr(model, "config", None)
    if type(model).__name__ != "LlamaForCausalLM" or config is None or model.dtype != torch.float32 or model.device.type != "cpu":
        return False
    harmless = {"pad_token_id", "eos_token_id", "bos_token_id", "transformers_version", "_from_model_config", "use_cache"}
    asked = set(model.generation_config.to_diff_dict()) - harmless - {"output_attentions", "output_hidden_states"}
    if asked:
        return False
    projections = [model.lm_head] + [
        m for layer in model.model.layers for m in (*layer.self_attn.children(), *layer.mlp.children()) if hasattr(m, "weight")
    ]
    if any(type(m) is not torch.nn.Linear for m in projections):  # an int8 copy's layers (`quantize_int8`), LoRA, ...
        return False
    rope = getattr(config, "rope_scaling", None) or getattr(config, "rope_parameters", None) or {}
    return (
        config.hidden_act == "silu"
        and not getattr(config, "attention_bias", False)
        and not getattr(config, "mlp_bias", False)
        and rope.get("rope_type", "default") == "default"
        and getattr(config, "head_dim", config.hidden_size // config.num_attention_heads)
        == config.hidden_size // config.num_attention_heads
    )


class LlamaWeights:
    """The model's weights as the decode loop reads them (views and two concatenations, made once)."""

    def __init__(self, model: torch.nn.Module):
        config, body = model.config, model.model
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.eps = config.rms_norm_eps
        self.embed, self.norm, self.lm_head = body.embed_tokens.weight, body.norm.weight, model.lm_head.weight
        self.inv_freq = body.rotary_emb.inv_freq.float()  # (head_dim / 2,)
        self.layers = [
            (
                layer.input_layernorm.weight,
                torch.cat([layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight, layer.self_attn.v_proj.weight]),
                layer.self_attn.o_proj.weight,
                layer.post_attention_layernorm.weight,
                torch.cat([layer.mlp.gate_proj.weight, layer.mlp.up_proj.weight]),
                layer.mlp.down_proj.weight,
            )
            for layer in body.layers
        ]


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """weight * x / sqrt(mean(x^2) + eps), over the last dimension."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE: x * cos + rotate_half(x) * sin, with rotate_half(x1, x2) = (-x2, x1). x: (N, heads, n, d)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class Decoder:
    """One batch's decoding state: the weights, a cache for P + max_new_tokens positions, the bias.

    `logits()` the first time runs the prompts (N, P) and returns the last position's logits (N, V);
    each later `logits(next_ids)` feeds one token a row, (N,), and returns the logits after it.
    """

    def __init__(self, model: torch.nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, max_new_tokens: int):
        self.w = w = LlamaWeights(model)
        rows, prompt_length = prompt_ids.shape
        total = prompt_length + max_new_tokens
        device, dtype = prompt_ids.device, w.embed.dtype
        shape = (len(w.layers), rows, w.kv_heads, total, w.head_dim)
        self.keys, self.values = torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device)
        # bias[i, j]: 0 where query i may read key j (j <= i, j not padding), else -inf. A padding position
        # reads itself, so no row of the softmax is all -inf (its output is never used, but a NaN would spread).
        real = torch.ones(rows, total, dtype=torch.bool, device=device)
        real[:, :prompt_length] = prompt_mask.bool()
        allowed = real[:, None, :] & torch.ones(total, total, dtype=torch.bool, device=device).tril()
        allowed |= torch.eye(total, dtype=torch.bool, device=device)
        self.bias = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, float("-inf"))
        self.positions = (prompt_mask.cumsum(dim=1) - 1).clamp(min=0)  # (N, P): real tokens counted from 0
        self.prompt_ids, self.start, self.total = prompt_ids, 0, total

    @torch.no_grad()
    def logits(self, next_ids: torch.Tensor | None = None) -> torch.Tensor:
        if next_ids is None:  # the prompts
            if self.start:
                raise ValueError("the prompts were already read; pass the next token of every row")
            ids = self.prompt_ids
        else:
            if self.start >= self.total:
                raise ValueError(f"the cache holds {self.total} positions; make the Decoder with a larger max_new_tokens")
            ids, self.positions = next_ids[:, None], self.positions[:, -1:] + 1
        end = self.start + ids.shape[1]
        bias = self.bias[:, None, self.start : end, :end]
        out = _forward(self.w, ids, self.positions, self.keys, self.values, bias, self.start)
        self.start = end
        return out


@torch.no_grad()
def decode(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    temperature: float,
    eos_token_id: int,
    pad_token_id: int,
) -> torch.Tensor:
    """Completion ids (N, C), C <= max_new_tokens: what `model.generate` returns after the prompt.

    prompt_ids, prompt_mask: (N, P), left-padded. temperature 0 is greedy.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1 (got {max_new_tokens})")
    decoder = Decoder(model, prompt_ids, prompt_mask, max_new_tokens)
    logits, chosen = decoder.logits(), []
    unfinished = torch.ones(prompt_ids.shape[0], dtype=torch.bool, device=prompt_ids.device)
    for step in range(max_new_tokens):
        if temperature > 0:
            next_ids = torch.multinomial(torch.softmax(logits / temperature, dim=-1), num_samples=1).squeeze(1)
        else:
            next_ids = logits.argmax(dim=-1)
        next_ids = torch.where(unfinished, next_ids, pad_token_id)
        chosen.append(next_ids)
        unfinished &= next_ids != eos_token_id
        if not unfinished.any() or step == max_new_tokens - 1:
            break
        logits = decoder.logits(next_ids)
    return torch.stack(chosen, dim=1)


def _forward(
    w: LlamaWeights,
    ids: torch.Tensor,
    positions: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    bias: torch.Tensor,
    start: int,
) -> torch.Tensor:
    """The float32 logits of the last position, (N, V), for `ids` (N, n) at cache slots start..start+n-1."""
    rows, n = ids.shape
    end = start + n
    angles = positions[..., None].float() * w.inv_freq  # (N, n, d/2)
    angles = torch.cat((angles, angles), dim=-1)[:, None]  # (N, 1, n, d): the same for every head
    cos, sin = angles.cos(), angles.sin()
    q_size, kv_size = w.heads * w.head_dim, w.kv_heads * w.head_dim
    x = F.embedding(ids, w.embed)
    for layer, (norm1, qkv, out, norm2, gate_up, down) in enumerate(w.layers):
        q, k, v = F.linear(rms_norm(x, norm1, w.eps), qkv).split([q_size, kv_size, kv_size], dim=-1)
        q = rotate(q.view(rows, n, w.heads, w.head_dim).transpose(1, 2), cos, sin)
        keys[layer, :, :, start:end] = rotate(k.view(rows, n, w.kv_heads, w.head_dim).transpose(1, 2), cos, sin)
        values[layer, :, :, start:end] = v.view(rows, n, w.kv_heads, w.head_dim).transpose(1, 2)
        k_all, v_all = keys[layer, :, :, :end], values[layer, :, :, :end]
        if w.kv_heads != w.heads:  # grouped-query attention: each key head serves heads / kv_heads query heads
            k_all = k_all.repeat_interleave(w.heads // w.kv_heads, dim=1)
            v_all = v_all.repeat_interleave(w.heads // w.kv_heads, dim=1)
        scores = q @ k_all.transpose(-1, -2) * w.head_dim**-0.5 + bias  # (N, heads, n, end)
        attended = scores.softmax(dim=-1) @ v_all  # (N, heads, n, d)
        x = x + F.linear(attended.transpose(1, 2).reshape(rows, n, q_size), out)
        gate, up = F.linear(rms_norm(x, norm2, w.eps), gate_up).chunk(2, dim=-1)
        x = x + F.linear(F.silu(gate) * up, down)
    return F.linear(rms_norm(x[:, -1], w.norm, w.eps), w.lm_head).float()
