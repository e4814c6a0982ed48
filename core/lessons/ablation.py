"""Switching attention heads off: the same model run again with some heads' outputs removed.

The intervention is a knob of the one Transformer (`head_ablation` of `Transformer.forward`, applied in
`MultiHeadAttention.attend` to each head's output z before the output projection W_O): "zero" sets a head's z
to 0 at every position; "mean" replaces it by its mean over the positions of the text (the head then says the
same thing everywhere, an average message instead of none).

An `AblatedRun` keeps what a trace keeps (the residual stream before every sub-layer, O(T·d)) and produces a
later layer's attention from it on demand, with the trace's own replay code: a layer's attention depends only
on the residual stream before it, which the run kept as the ablated model computed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from core.engine.attention import ABLATION_MODES, HeadAblation
from core.errors import N_, InputError
from core.record.trace import Trace
from core.runtime.replay import CACHE_BYTES, Replay

__all__ = ["ABLATION_MODES", "AblatedRun", "HeadAblation", "ablation_of", "run_ablated"]


def ablation_of(heads: Mapping[int, Iterable[int]], mode: str = "zero") -> dict[int, HeadAblation]:
    """{layer: HeadAblation} from {layer: heads}; layers with no head are left out."""
    return {layer: HeadAblation(tuple(sorted(set(chosen))), mode) for layer, chosen in heads.items() if chosen}


@dataclass(frozen=True, repr=False)
class AblatedRun:
    """The main stack run with some heads switched off: its next-token logits and, on demand, any layer's
    attention (equal to a trace's for layers before the first ablated one, bit for bit)."""

    ablation: dict[int, HeadAblation]
    last_logits: np.ndarray | None  # (vocab,) float32 after the last token; None for an encoder
    last_hidden: np.ndarray  # (d,) float32 the main stack's output at the last token, after its final norm
    replay: Replay

    def query_rows(self, layer: int, query: int) -> np.ndarray:
        """(nh, S) float32: where `query` looks in every head of `layer`, as the ablated model computed it."""
        return self.replay.attention(layer).query_rows(query)

    def nbytes(self) -> int:
        return self.replay.nbytes() + self.last_hidden.nbytes + (0 if self.last_logits is None else
                                                                  self.last_logits.nbytes)


def _check(config, ablation: Mapping[int, HeadAblation]) -> None:
    layers, heads = config.n_layers, config.n_heads
    for layer, switched in ablation.items():
        if not 0 <= layer < layers:
            raise InputError(N_("There is no layer {layer} in this model (0 to {last})."), layer=layer, last=layers - 1)
        for head in switched.heads:
            if not 0 <= head < heads:
                raise InputError(N_("There is no head {head} in this model (0 to {last})."), head=head, last=heads - 1)


@torch.inference_mode()
def run_ablated(lm, trace: Trace, ablation: Mapping[int, HeadAblation],
                cache_bytes: int = CACHE_BYTES // 8) -> AblatedRun:
    """`lm`'s main stack run on the trace's own tokens (and source, for an encoder-decoder) with `ablation`:
    one forward pass. With no ablation it is the plain run."""
    _check(lm.config, ablation)
    source = None if trace.encoder is None else [trace.encoder.token_ids]
    out = lm.run([trace.token_ids], source_ids=source, checkpoints=True, logits_for="last",
                 head_ablation=dict(ablation))
    logits = None if out.logits is None else out.logits[0, -1].float().cpu().numpy()
    replay = lm.replay(out, trace.dtype, cache_bytes)
    return AblatedRun(dict(ablation), logits, out.hidden[0, -1].float().cpu().numpy(), replay)


def head_contributions(lm, trace: Trace, layer: int, query: int) -> np.ndarray:
    """(nh, d) float32: what each head adds to the attention output at `query`, z_h W_O[h]. Their sum plus W_O's
    bias is the trace's attention output there."""
    z = np.asarray(trace.layers[layer].self_attn.z[:, query], dtype=np.float32)  # (nh, hs)
    w_o = lm.weights.W_O(layer).float().cpu().numpy()  # (nh, hs, d)
    return np.einsum("hk,hkd->hd", z, w_o)
