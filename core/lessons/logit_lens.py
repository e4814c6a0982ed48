"""The logit lens and direct logit attribution: what the residual stream would predict if the model stopped
at layer ℓ, and what each head and feed-forward block wrote toward the predicted token.

Lens. h_ℓ is the residual stream after ℓ blocks (h_0 the embedding's output, h_L the last block's output).
The lens reads it as the model reads h_L: logits_ℓ = W_U · FinalNorm(h_ℓ) (then the model's soft-cap, where it
has one). At ℓ = L this is the model's own computation on the same numbers. Logits are computed a few rows
at a time and only the top k of each row kept: a 2,048-token text never holds T x vocab x layers numbers.

Attribution. In a pre-norm model the residual stream is a sum: h_L = h_0 + Σ_ℓ (attn_ℓ + mlp_ℓ), and each
attention output is a sum over heads, attn_ℓ = Σ_h z_h W_O,h + b_O. The final norm is not linear, but at one
position it is a linear map times a scale s that depends on the whole vector:
RMSNorm(x) = s · g ⊙ x with s = 1/√(mean(x²) + ε); LayerNorm(x) = s · g ⊙ (x − mean(x)) + b with
s = 1/√(var(x) + ε). Holding s at its value for h_L (the standard direct logit attribution), the logit of
token v is exactly a sum: logit_v = Σ_c c · w + b · u_v, with u_v the row of W_U and
w = s · g ⊙ u_v (RMSNorm) or w = s · P(g ⊙ u_v), P removing the mean (LayerNorm). Gemma's sandwich norm on each
sub-layer's output is linearised the same way, with its own scale at that position. The logit is before
the soft-cap (Gemma 2 has one; its tanh is monotonic, so the ranking is the same).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.engine.attention import repeat_kv
from core.errors import N_, InputError
from core.runtime.replay import StackReplay

ROW_BUDGET = 2**24  # logits computed at once: 64 MB of float32
WINDOW = 48  # positions in one lens grid: a 2,048-token text is read a window at a time
TOP_K = 5
CANDIDATES = 8  # lines on the one-position chart
TOP_UNITS = 10


def _stack(trace) -> StackReplay:
    if trace.replay is None or "stack" not in trace.replay.kept:
        raise InputError(N_("This trace kept no residual stream to read."))
    return StackReplay(trace.replay, "stack")


def streams(trace) -> list[torch.Tensor]:
    """(1, T, d) the residual stream h_0 … h_L, in the dtype the model computed in."""
    stack = _stack(trace)
    n = len(stack.module.layers)
    return [stack.stream(i, "pre") for i in range(n)] + [stack.stream(n - 1, "post") if n else stack.kept.out]


def _lens_logits(module, h: torch.Tensor) -> torch.Tensor:
    """(rows, vocab) float32: what the model's head makes of h (1, rows, d), as the model computes its logits."""
    norm = module.stack.norm
    return module.vocab_logits(h if norm is None else norm(h))[0].float()


def _check_head(trace) -> None:
    if trace.replay is None or trace.replay.module.lm_head is None:
        raise InputError(N_("The logit lens needs a model that predicts next tokens."))


@dataclass(frozen=True)
class LensGrid:
    start: int  # the first position of the window
    top_ids: np.ndarray  # (L + 1, W, k) int64 the k most likely next tokens at every layer and position
    top_probs: np.ndarray  # (L + 1, W, k) float32 their probabilities
    final_ids: np.ndarray  # (W,) the last layer's top token at each position: the model's prediction
    final_probs: np.ndarray  # (L + 1, W) float32 the probability of that prediction at each layer
    decided: np.ndarray  # (W,) the first layer from which the prediction is the top token at every later layer

    @property
    def positions(self) -> np.ndarray:
        return np.arange(self.start, self.start + self.top_ids.shape[1])


def decided_layers(top1: np.ndarray) -> np.ndarray:
    """(W,) for top-1 ids (L + 1, W): the first layer ℓ with top1[ℓ'] == top1[L] for every ℓ' ≥ ℓ."""
    agree = top1 == top1[-1]
    # Count from the top: the run of agreement ending at the last layer.
    run = np.cumprod(agree[::-1], axis=0).sum(axis=0)
    return (top1.shape[0] - run).astype(np.int64)


@torch.inference_mode()
def lens_grid(trace, start: int = 0, width: int = WINDOW, k: int = TOP_K) -> LensGrid:
    """The lens at every layer for positions start … start + width − 1, top k per cell."""
    _check_head(trace)
    hs = streams(trace)
    module, t = trace.replay.module, hs[0].size(1)
    start = min(max(int(start), 0), t - 1)
    end = min(t, start + max(int(width), 1))
    vocab = module.config.vocab_size
    rows = max(1, ROW_BUDGET // vocab)
    layers = len(hs)
    top_ids = np.zeros((layers, end - start, k), dtype=np.int64)
    top_probs = np.zeros((layers, end - start, k), dtype=np.float32)
    final_probs = np.zeros((layers, end - start), dtype=np.float32)
    final_ids = None
    for layer in reversed(range(layers)):  # the last layer first: its top token is followed down the layers
        for a in range(start, end, rows):
            b = min(a + rows, end)
            logp = torch.log_softmax(_lens_logits(module, hs[layer][:, a:b]), dim=-1)  # (rows, vocab)
            values, ids = logp.topk(k, dim=-1)
            top_ids[layer, a - start : b - start] = ids.cpu().numpy()
            top_probs[layer, a - start : b - start] = values.exp().cpu().numpy()
            if final_ids is None:
                continue
            chosen = torch.as_tensor(final_ids[a - start : b - start], device=logp.device)
            final_probs[layer, a - start : b - start] = logp.gather(1, chosen[:, None])[:, 0].exp().cpu().numpy()
        if final_ids is None:
            final_ids = top_ids[-1, :, 0].copy()
            final_probs[-1] = top_probs[-1, :, 0]
    return LensGrid(start, top_ids, top_probs, final_ids, final_probs, decided_layers(top_ids[:, :, 0]))


@dataclass(frozen=True)
class PositionLens:
    position: int
    candidates: np.ndarray  # (C,) token ids: each layer's top token, then the final top tokens
    probs: np.ndarray  # (L + 1, C) float32 their probability at every layer
    logits: np.ndarray  # (L + 1, C) float32 their logits at every layer


@torch.inference_mode()
def position_lens(trace, position: int, count: int = CANDIDATES) -> PositionLens:
    """The lens at one position through every layer, for the tokens that lead somewhere along the way."""
    _check_head(trace)
    module = trace.replay.module
    per_layer = [_lens_logits(module, h[:, position : position + 1])[0] for h in streams(trace)]  # (vocab,) each
    candidates: list[int] = []
    for logits in [per_layer[-1], *per_layer[::-1]]:  # the final prediction first, then each layer's top
        top = int(logits.argmax())
        if top not in candidates:
            candidates.append(top)
    for top in per_layer[-1].topk(count).indices.tolist():  # the final runners-up fill what is left
        if len(candidates) >= count:
            break
        if top not in candidates:
            candidates.append(top)
    candidates = candidates[:count]
    chosen = torch.as_tensor(candidates, device=per_layer[0].device)
    logits = torch.stack([row[chosen] for row in per_layer])
    probs = torch.stack([torch.softmax(row, dim=-1)[chosen] for row in per_layer])
    return PositionLens(position, np.array(candidates), probs.cpu().numpy(), logits.cpu().numpy())


# ---------------------------------------------------------------- direct logit attribution


class _LinearNorm:
    """A norm at one position as a linear map times its scale there: y ↦ s · g ⊙ P(y) (+ b), P removing the mean
    for LayerNorm, the identity for RMSNorm. `pull(w)` is the transposed map: y · pull(w) == (map y) · w."""

    def __init__(self, norm, x: torch.Tensor):
        x = x.float()
        self.centred = isinstance(norm, torch.nn.LayerNorm)
        if self.centred:
            self.scale = torch.rsqrt(x.var(unbiased=False) + norm.eps)
            self.gain = norm.weight.float()
            self.bias = None if norm.bias is None else norm.bias.float()
        else:
            self.scale = torch.rsqrt(x.pow(2).mean() + norm.eps)
            self.gain = norm.weight.float() + 1.0 if norm.unit_offset else norm.weight.float()
            self.bias = None

    def pull(self, w: torch.Tensor) -> torch.Tensor:
        v = self.gain * w * self.scale
        return v - v.mean() if self.centred else v

    def constant(self, w: torch.Tensor) -> float:
        return 0.0 if self.bias is None else float(self.bias @ w)


@dataclass(frozen=True)
class Unit:
    layer: int
    unit: int
    act: float  # the unit's activation at the position
    direction: float  # W_down[:, unit] · w: what one unit of activation adds to the logit
    contribution: float  # act × direction


@dataclass(frozen=True)
class Attribution:
    position: int
    token_id: int
    logit: float  # the model's logit of the token at the position, before any soft-cap
    scale: float  # the final norm's s at the position
    embedding: float  # h_0 · w
    heads: np.ndarray  # (L, nh) each head's z_h W_O,h · w
    attention_bias: np.ndarray  # (L,) the output projection's bias (and a sandwich norm's shift), · w
    cross: np.ndarray | None  # (L,) cross-attention's output · w (encoder-decoder)
    feed_forward: np.ndarray  # (L,) the feed-forward's output · w
    norm_bias: float  # the final LayerNorm's b · u_v; 0 for RMSNorm
    units: tuple[Unit, ...]  # the feed-forward units with the largest |contribution|, largest first

    @property
    def attention(self) -> np.ndarray:
        return self.heads.sum(axis=1) + self.attention_bias

    @property
    def total(self) -> float:
        parts = self.embedding + self.attention.sum() + self.feed_forward.sum() + self.norm_bias
        return float(parts + (0.0 if self.cross is None else self.cross.sum()))


def can_attribute(config) -> bool:
    """A pre-norm model's residual stream is a sum; a post-norm one renormalises it after every sub-layer."""
    return config.norm_placement == "pre" and config.lm_head


@torch.inference_mode()
def attribute(trace, position: int, token_id: int | None = None, top_units: int = TOP_UNITS) -> Attribution:
    """Each component's direct contribution to the logit of `token_id` (default: the model's top prediction)
    at `position`, with the final norm (and any sandwich norm) held linear at its scale there."""
    _check_head(trace)
    stack, module = _stack(trace), trace.replay.module
    config = module.config
    if not can_attribute(config):
        raise InputError(N_("Direct attribution needs a pre-norm model, whose residual stream is a sum."))
    t = position
    final_h = stack.stream(len(stack.module.layers) - 1, "post")[0, t]  # (d,)
    final_norm = stack.module.norm
    normed = final_h[None, None] if final_norm is None else final_norm(final_h[None, None])
    raw = module.lm_head(normed)[0, 0].float()  # (vocab,) the logits before any soft-cap
    token = int(raw.argmax()) if token_id is None else int(token_id)
    u = module.lm_head.weight[token].float()
    if final_norm is None:
        w, norm_bias, scale = u, 0.0, 1.0
    else:
        linear = _LinearNorm(final_norm, final_h)
        w, norm_bias, scale = linear.pull(u), linear.constant(u), float(linear.scale)
    logit = float(raw[token])
    embedding = float(stack.stream(0, "pre")[0, t].float() @ w)
    n_layers = len(stack.module.layers)
    heads = np.zeros((n_layers, config.n_heads), dtype=np.float64)
    attention_bias, feed_forward = np.zeros(n_layers), np.zeros(n_layers)
    cross = np.zeros(n_layers) if stack.module.layers[0].cross_attn is not None else None
    units: list[Unit] = []
    for i, block in enumerate(stack.module.layers):
        heads[i], attention_bias[i] = _heads(trace, stack, i, t, w)
        if cross is not None:
            cross[i] = float((stack.stream(i, "cross")[0, t] - stack.stream(i, "mid")[0, t]).float() @ w)
        before = stack.stream(i, "cross" if cross is not None else "mid")[:, t : t + 1]
        _, _, record, posted = block.feed_forward(before, capture=True)
        wf, constant = w, 0.0
        if block.mlp_post_norm is not None:
            post = _LinearNorm(block.mlp_post_norm, record.out[0, 0])
            wf, constant = post.pull(w), post.constant(w)
        direction = block.mlp.fc_out.weight.float().T @ wf  # (f,)
        act = record.act[0, 0].float()
        contributions = act * direction
        bias = 0.0 if block.mlp.fc_out.bias is None else float(block.mlp.fc_out.bias.float() @ wf)
        feed_forward[i] = float(contributions.sum()) + bias + constant
        top = contributions.abs().topk(min(top_units, contributions.numel())).indices.tolist()
        units += [Unit(i, j, float(act[j]), float(direction[j]), float(contributions[j])) for j in top]
    units.sort(key=lambda unit: -abs(unit.contribution))
    return Attribution(t, token, logit, scale, embedding, heads, attention_bias, cross, feed_forward, norm_bias,
                       tuple(units[:top_units]))


def _heads(trace, stack: StackReplay, layer: int, t: int, w: torch.Tensor) -> tuple[np.ndarray, float]:
    """Each head's z_h W_O,h · w at position t, and the bias's b_O · w (through a sandwich norm if any)."""
    block = stack.module.layers[layer]
    attn = block.self_attn
    replay = trace.layers[layer].self_attn.replay  # the layer's q, k, v, computed once and kept by the trace
    _, probs = replay.weights(queries=slice(t, t + 1))  # (1, nh, 1, S)
    v = repeat_kv(replay.projections()["v"], attn.groups)  # (1, nh, S, hs)
    z = (probs[0, :, 0, :, None].float() * v[0].float()).sum(dim=1)  # (nh, hs)
    w_o = attn.o_proj.weight.float()  # (d, nh * hs)
    constant = 0.0
    if block.attn_post_norm is not None:
        out = attn.o_proj(z.reshape(1, -1).to(w_o.dtype))[0]  # (d,) the attention's output at t
        post = _LinearNorm(block.attn_post_norm, out)
        w, constant = post.pull(w), post.constant(w)
    per_head = (w_o.T @ w).reshape(attn.n_heads, attn.head_dim)  # (nh, hs)
    bias = 0.0 if attn.o_proj.bias is None else float(attn.o_proj.bias.float() @ w)
    return (z * per_head).sum(dim=1).double().cpu().numpy(), bias + constant
