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

from core.errors import N_, InputError
from core.runtime.replay import Replay
from core.runtime.weights import Norm, Weights

ROW_BUDGET = 2**24  # logits computed at once: 64 MB of float32
WINDOW = 48  # positions in one lens grid: a 2,048-token text is read a window at a time
TOP_K = 5
CANDIDATES = 8  # lines on the one-position chart
TOP_UNITS = 10


def _replay(trace) -> Replay:
    replay = trace.replay
    if not isinstance(replay, Replay):
        raise InputError(N_("This trace kept no residual stream to read."))
    return replay


def streams(trace) -> list[torch.Tensor]:
    """(1, T, d) the residual stream h_0 … h_L, in the dtype the model computed in."""
    return _replay(trace).residual_stream()


def _lens_logits(weights: Weights, h: torch.Tensor) -> torch.Tensor:
    """(rows, vocab) float32: what the model's head makes of h (1, rows, d), as the model computes its logits."""
    norm = weights.final_norm()
    return weights.vocab_logits(h if norm is None else norm(h))[0].float()


def _head_weights(trace) -> Weights:
    """The weights of the trace's model, which must predict next tokens."""
    replay = trace.replay
    if not isinstance(replay, Replay) or replay.weights.W_U() is None:
        raise InputError(N_("The logit lens needs a model that predicts next tokens."))
    return replay.weights


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
    weights = _head_weights(trace)
    hs = streams(trace)
    t = hs[0].size(1)
    start = min(max(int(start), 0), t - 1)
    end = min(t, start + max(int(width), 1))
    vocab = weights.config.vocab_size
    rows = max(1, ROW_BUDGET // vocab)
    layers = len(hs)
    top_ids = np.zeros((layers, end - start, k), dtype=np.int64)
    top_probs = np.zeros((layers, end - start, k), dtype=np.float32)
    final_probs = np.zeros((layers, end - start), dtype=np.float32)
    final_ids = None
    for layer in reversed(range(layers)):  # the last layer first: its top token is followed down the layers
        for a in range(start, end, rows):
            b = min(a + rows, end)
            logp = torch.log_softmax(_lens_logits(weights, hs[layer][:, a:b]), dim=-1)  # (rows, vocab)
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
    weights = _head_weights(trace)
    per_layer = [_lens_logits(weights, h[:, position : position + 1])[0] for h in streams(trace)]  # (vocab,) each
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

    def __init__(self, norm: Norm, x: torch.Tensor):
        x = x.float()
        self.centred = norm.kind == "layernorm"
        if self.centred:
            self.scale = torch.rsqrt(x.var(unbiased=False) + norm.eps)
        else:
            self.scale = torch.rsqrt(x.pow(2).mean() + norm.eps)
        self.gain = norm.gain(torch.float32)
        self.bias = None if norm.bias is None else norm.bias.float()

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
    weights = _head_weights(trace)
    replay, config = _replay(trace), weights.config
    if not can_attribute(config):
        raise InputError(N_("Direct attribution needs a pre-norm model, whose residual stream is a sum."))
    t, n_layers = position, config.n_layers
    final_h = replay.stream(n_layers - 1, "post")[0, t]  # (d,)
    final_norm = weights.final_norm()
    normed = final_h[None, None] if final_norm is None else final_norm(final_h[None, None])
    w_u = weights.W_U()  # (d, vocab)
    raw = (normed @ w_u)[0, 0].float()  # (vocab,) the logits before any soft-cap
    token = int(raw.argmax()) if token_id is None else int(token_id)
    u = w_u[:, token].float()
    if final_norm is None:
        w, norm_bias, scale = u, 0.0, 1.0
    else:
        linear = _LinearNorm(final_norm, final_h)
        w, norm_bias, scale = linear.pull(u), linear.constant(u), float(linear.scale)
    logit = float(raw[token])
    embedding = float(replay.stream(0, "pre")[0, t].float() @ w)
    heads = np.zeros((n_layers, config.n_heads), dtype=np.float64)
    attention_bias, feed_forward = np.zeros(n_layers), np.zeros(n_layers)
    cross = np.zeros(n_layers) if config.architecture == "encoder-decoder" else None
    units: list[Unit] = []
    for i in range(n_layers):
        heads[i], attention_bias[i] = _heads(replay, i, t, w)
        if cross is not None:
            cross[i] = float((replay.stream(i, "cross")[0, t] - replay.stream(i, "mid")[0, t]).float() @ w)
        _, record, _ = replay.feed_forward(i, slice(t, t + 1))
        wf, constant = w, 0.0
        post_norm = weights.mlp_post_norm(i)
        if post_norm is not None:
            post = _LinearNorm(post_norm, record.out[0, 0])
            wf, constant = post.pull(w), post.constant(w)
        direction = weights.W_out(i).float() @ wf  # (f,)
        act = record.act[0, 0].float()
        contributions = act * direction
        b_out = weights.b_out(i)
        bias = 0.0 if b_out is None else float(b_out.float() @ wf)
        feed_forward[i] = float(contributions.sum()) + bias + constant
        top = contributions.abs().topk(min(top_units, contributions.numel())).indices.tolist()
        units += [Unit(i, j, float(act[j]), float(direction[j]), float(contributions[j])) for j in top]
    units.sort(key=lambda unit: -abs(unit.contribution))
    return Attribution(t, token, logit, scale, embedding, heads, attention_bias, cross, feed_forward, norm_bias,
                       tuple(units[:top_units]))


def _heads(replay: Replay, layer: int, t: int, w: torch.Tensor) -> tuple[np.ndarray, float]:
    """Each head's z_h W_O[h] · w at position t, and the bias's b_O · w (through a sandwich norm if any)."""
    weights, attention = replay.weights, replay.attention(layer)  # q, k, v computed once, kept by the trace
    _, probs = attention.weights(queries=slice(t, t + 1))  # (1, nh, 1, S)
    v = attention.head_values()  # (1, nh, S, hs)
    z = (probs[0, :, 0, :, None].float() * v[0].float()).sum(dim=1)  # (nh, hs)
    w_o = weights.W_O(layer).float()  # (nh, hs, d)
    n_heads, hs, d = w_o.shape
    w_o = w_o.reshape(n_heads * hs, d)
    b_o = weights.b_O(layer)
    constant, post_norm = 0.0, weights.attn_post_norm(layer)
    if post_norm is not None:
        out = (z.reshape(1, -1) @ w_o)[0]  # (d,) the attention's output at t
        post = _LinearNorm(post_norm, out if b_o is None else out + b_o.float())
        w, constant = post.pull(w), post.constant(w)
    per_head = (w_o @ w).reshape(n_heads, hs)  # (nh, hs)
    bias = 0.0 if b_o is None else float(b_o.float() @ w)
    return (z * per_head).sum(dim=1).double().cpu().numpy(), bias + constant
