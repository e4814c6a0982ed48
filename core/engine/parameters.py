"""Where a model's parameters are: embeddings, blocks, final norm, output head."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from core.errors import N_

# (stack, its part) -> the group's name; with an encoder beside it, the main stack is the decoder.
_GROUPS = {
    ("stack", "embed"): N_("embeddings"), ("stack", "layers"): N_("blocks"), ("stack", "norm"): N_("final norm"),
    ("encoder", "embed"): N_("encoder embeddings"), ("encoder", "layers"): N_("encoder blocks"),
    ("encoder", "norm"): N_("encoder final norm"),
    ("decoder", "embed"): N_("decoder embeddings"), ("decoder", "layers"): N_("decoder blocks"),
    ("decoder", "norm"): N_("decoder final norm"),
}
OUTPUT_HEAD, OTHER = N_("output head"), N_("other")


@dataclass(frozen=True)
class ParameterBreakdown:
    """Counts per part, in the order the model computes: "embeddings", "blocks", "final norm", "output head"
    (an encoder-decoder has "encoder blocks", "decoder blocks" and so on)."""

    groups: dict[str, int]
    tied_head: bool  # the output head reuses the token embedding matrix, so it adds no parameters

    @property
    def total(self) -> int:
        return sum(self.groups.values())


def _group(name: str, has_encoder: bool) -> str:
    """ "encoder.layers.3.attn.q.weight" -> "encoder blocks"; "lm_head.weight" -> "output head"."""
    stack, _, rest = name.partition(".")
    if stack == "lm_head":
        return OUTPUT_HEAD
    if stack == "stack" and has_encoder:
        stack = "decoder"
    return _GROUPS.get((stack, rest.partition(".")[0]), OTHER)


def parameter_breakdown(module: nn.Module) -> ParameterBreakdown:
    """Parameter counts per part of a `core.engine.model.Transformer`; a shared tensor counts once, where it is first named."""
    has_encoder = getattr(module, "encoder", None) is not None
    groups: dict[str, int] = {}
    for name, parameter in module.named_parameters():  # named_parameters skips tied duplicates
        group = _group(name, has_encoder)
        groups[group] = groups.get(group, 0) + parameter.numel()
    head = getattr(module, "lm_head", None)
    tied = head is not None and any(head.weight is p for n, p in module.named_parameters() if not n.startswith("lm_head"))
    if head is not None:
        groups.setdefault(OUTPUT_HEAD, 0)
    return ParameterBreakdown(groups, tied)
