"""A model's weights by name, as TransformerLens names them (W_Q, W_K, W_V, W_O, W_in, W_gate, W_out, W_E, W_pos,
W_U), and its norms by what they compute: the one place that knows where a Transformer keeps them.

Shapes put the input first, so that x @ W is the model's product: W_Q (nh, d, hs), W_K and W_V (nkv, d, hs),
W_O (nh, hs, d), W_in and W_gate (d, f), W_out (f, d), W_E (vocab, d), W_pos (positions, d), W_U (d, vocab).
A gated feed-forward (SwiGLU, GeGLU) computes act(x @ W_gate) * (x @ W_in), a plain one act(x @ W_in); the
record's `pre` is the first of those products. Each weight is a view of the model's own tensor (its dtype, its
device; however the engine lays it out for speed, core/engine/layout.py), never a copy: read it, never write it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from core.engine.attention import MultiHeadAttention
from core.engine.blocks import Block, FeedForward
from core.engine.config import ModelConfig
from core.engine.model import Stack, Transformer


@dataclass(frozen=True)
class Norm:
    """One of the model's norms over the last dimension: LayerNorm g ⊙ (x − mean(x)) / √(var(x) + ε) + b, or
    RMSNorm g ⊙ x / √(mean(x²) + ε). Calling it is the model's own computation."""

    kind: str  # "layernorm" or "rmsnorm"
    eps: float
    weight: torch.Tensor  # (width,) as stored
    bias: torch.Tensor | None  # (width,) LayerNorm's learned shift b; None for RMSNorm
    unit_offset: bool  # the gain g is 1 + weight (Gemma stores its RMSNorm weights around 0), else weight
    module: nn.Module = field(repr=False)

    def gain(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(width,) g, what multiplies the normalised vector, in `dtype` (the offset added in it)."""
        weight = self.weight.to(dtype)
        return weight + 1.0 if self.unit_offset else weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


def _norm(module: nn.Module | None) -> Norm | None:
    if module is None:
        return None
    if isinstance(module, nn.LayerNorm):
        bias = None if module.bias is None else module.bias.detach()
        return Norm("layernorm", float(module.eps), module.weight.detach(), bias, False, module)
    return Norm("rmsnorm", float(module.eps), module.weight.detach(), None, module.unit_offset, module)


def _input_first(linear: nn.Linear) -> torch.Tensor:
    """(in, out): the layer's (out, in) weight transposed, so that x @ W is its product (a view)."""
    return linear.weight.detach().t()


def _bias(linear: nn.Linear | None) -> torch.Tensor | None:
    return None if linear is None or linear.bias is None else linear.bias.detach()


class Weights:
    """Named reads of one model's weights. `stack` picks the decoder (or only stack), "stack", or an
    encoder-decoder's "encoder"; layers are numbered from 0."""

    def __init__(self, module: Transformer):
        self._module = module
        self.config: ModelConfig = module.config

    def _stack(self, stack: str) -> Stack:
        found = self._module.stack if stack == "stack" else self._module.encoder if stack == "encoder" else None
        if found is None:
            raise ValueError(f"this model has no stack {stack!r}")
        return found

    def _block(self, layer: int, stack: str) -> Block:
        layers = self._stack(stack).layers
        if not 0 <= layer < len(layers):
            raise IndexError(f"layer {layer} is outside 0..{len(layers) - 1}")
        return layers[layer]

    def _attention(self, layer: int, stack: str) -> MultiHeadAttention:
        return self._block(layer, stack).self_attn

    def _mlp(self, layer: int, stack: str) -> FeedForward:
        return self._block(layer, stack).mlp

    def _heads(self, linear: nn.Linear, heads: int) -> torch.Tensor:
        """(heads, d, hs) a query, key or value projection split per head."""
        d, hs = self.config.d_model, self.config.head_dim
        return _input_first(linear).reshape(d, heads, hs).transpose(0, 1)

    def _head_bias(self, linear: nn.Linear, heads: int) -> torch.Tensor | None:
        bias = _bias(linear)
        return None if bias is None else bias.reshape(heads, self.config.head_dim)

    # ---- embeddings and the vocabulary projection

    def W_E(self, stack: str = "stack") -> torch.Tensor:
        """(vocab, d) the token embedding table: row i is token i's vector, before any scaling by √d."""
        return self._stack(stack).embed.tokens.weight.detach()

    def W_pos(self, stack: str = "stack") -> torch.Tensor | None:
        """(positions, d) the learned position table; None where positions are not learned."""
        table = self._stack(stack).embed.positions
        return None if table is None else table.weight.detach()

    def W_U(self) -> torch.Tensor | None:
        """(d, vocab) the vocabulary projection (the embedding table transposed where the two are tied); None for
        an encoder, which predicts no tokens."""
        head = self._module.lm_head
        return None if head is None else _input_first(head)

    def vocab_logits(self, final: torch.Tensor) -> torch.Tensor:
        """(…, vocab) the model's scores of every token from hidden states after the final norm, (…, d): final @ W_U,
        then the model's soft-cap where it has one."""
        return self._module.vocab_logits(final)

    # ---- self-attention: head h computes softmax((x W_Q[h]) (x W_K[h // groups])ᵀ · scale) (x W_V[…]) W_O[h]

    def W_Q(self, layer: int, stack: str = "stack") -> torch.Tensor:
        """(nh, d, hs) each query head's projection of the normed input (before any query norm and rotary)."""
        return self._heads(self._attention(layer, stack).q_proj, self.config.n_heads)

    def W_K(self, layer: int, stack: str = "stack") -> torch.Tensor:
        """(nkv, d, hs) each key head's projection (before any key norm and rotary)."""
        return self._heads(self._attention(layer, stack).k_proj, self.config.kv_heads)

    def W_V(self, layer: int, stack: str = "stack") -> torch.Tensor:
        """(nkv, d, hs) each value head's projection."""
        return self._heads(self._attention(layer, stack).v_proj, self.config.kv_heads)

    def W_O(self, layer: int, stack: str = "stack") -> torch.Tensor:
        """(nh, hs, d) the output projection, split by the head whose output z_h it reads: out = Σ_h z_h W_O[h] + b_O."""
        n_heads, hs = self.config.n_heads, self.config.head_dim
        return _input_first(self._attention(layer, stack).o_proj).reshape(n_heads, hs, self.config.d_model)

    def b_Q(self, layer: int, stack: str = "stack") -> torch.Tensor | None:
        """(nh, hs), None for a model without biases."""
        return self._head_bias(self._attention(layer, stack).q_proj, self.config.n_heads)

    def b_K(self, layer: int, stack: str = "stack") -> torch.Tensor | None:
        """(nkv, hs), None for a model without biases."""
        return self._head_bias(self._attention(layer, stack).k_proj, self.config.kv_heads)

    def b_V(self, layer: int, stack: str = "stack") -> torch.Tensor | None:
        """(nkv, hs), None for a model without biases."""
        return self._head_bias(self._attention(layer, stack).v_proj, self.config.kv_heads)

    def b_O(self, layer: int, stack: str = "stack") -> torch.Tensor | None:
        """(d,), None for a model without biases."""
        return _bias(self._attention(layer, stack).o_proj)

    # ---- the feed-forward

    def W_in(self, layer: int, stack: str = "stack") -> torch.Tensor:
        """(d, f) the projection that is activated (plain), or that multiplies the activated gate (gated: "up")."""
        mlp = self._mlp(layer, stack)
        return _input_first(mlp.fc_up if mlp.gated else mlp.fc_in)

    def W_gate(self, layer: int, stack: str = "stack") -> torch.Tensor | None:
        """(d, f) a gated feed-forward's gate, the projection that is activated; None for a plain one."""
        mlp = self._mlp(layer, stack)
        return _input_first(mlp.fc_in) if mlp.gated else None

    def W_out(self, layer: int, stack: str = "stack") -> torch.Tensor:
        """(f, d) the down projection of the activated units."""
        return _input_first(self._mlp(layer, stack).fc_out)

    def b_in(self, layer: int, stack: str = "stack") -> torch.Tensor | None:
        """(f,), None for a model without biases."""
        mlp = self._mlp(layer, stack)
        return _bias(mlp.fc_up if mlp.gated else mlp.fc_in)

    def b_gate(self, layer: int, stack: str = "stack") -> torch.Tensor | None:
        """(f,), None for a plain feed-forward or a model without biases."""
        mlp = self._mlp(layer, stack)
        return _bias(mlp.fc_in) if mlp.gated else None

    def b_out(self, layer: int, stack: str = "stack") -> torch.Tensor | None:
        """(d,), None for a model without biases."""
        return _bias(self._mlp(layer, stack).fc_out)

    # ---- norms: before each sub-layer (pre-norm) or after the sum (post-norm), Gemma's on each output too

    def attn_norm(self, layer: int, stack: str = "stack") -> Norm:
        return _norm(self._block(layer, stack).attn_norm)

    def attn_post_norm(self, layer: int, stack: str = "stack") -> Norm | None:
        """The sandwich norm of the attention's output (Gemma); None elsewhere."""
        return _norm(self._block(layer, stack).attn_post_norm)

    def mlp_norm(self, layer: int, stack: str = "stack") -> Norm:
        return _norm(self._block(layer, stack).mlp_norm)

    def mlp_post_norm(self, layer: int, stack: str = "stack") -> Norm | None:
        """The sandwich norm of the feed-forward's output (Gemma); None elsewhere."""
        return _norm(self._block(layer, stack).mlp_post_norm)

    def final_norm(self, stack: str = "stack") -> Norm | None:
        """The norm after the last block; None for a model without one (the paper's post-norm Transformer)."""
        return _norm(self._stack(stack).norm)
