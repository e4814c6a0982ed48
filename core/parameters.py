"""Where a model's parameters are: embeddings, blocks, final norm, output head."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

_PART_OF = {"embed": "embeddings", "layers": "blocks", "norm": "final norm"}


@dataclass(frozen=True)
class ParameterBreakdown:
    """Counts per part, in the order the model computes: "embeddings", "blocks", "final norm", "output head"
    (an encoder-decoder has "encoder blocks", "decoder blocks" and so on)."""

    groups: dict[str, int]
    tied_head: bool  # the output head reuses the token embedding matrix, so it adds no parameters

    @property
    def total(self) -> int:
        return sum(self.groups.values())


def _group(name: str, stack_prefixes: dict[str, str]) -> str:
    """ "encoder.layers.3.attn.q.weight" -> "encoder blocks"; "lm_head.weight" -> "output head"."""
    stack, _, rest = name.partition(".")
    if stack == "lm_head":
        return "output head"
    part = rest.partition(".")[0]
    if stack not in stack_prefixes or part not in _PART_OF:
        return "other"
    return stack_prefixes[stack] + _PART_OF[part]


def parameter_breakdown(module: nn.Module) -> ParameterBreakdown:
    """Parameter counts per part of a `core.model.Transformer`; a shared tensor counts once, where it is first named."""
    # With an encoder beside it, the main stack is the decoder, and the names say so.
    has_encoder = getattr(module, "encoder", None) is not None
    stack_prefixes = {"encoder": "encoder ", "stack": "decoder " if has_encoder else ""}
    groups: dict[str, int] = {}
    for name, parameter in module.named_parameters():  # named_parameters skips tied duplicates
        group = _group(name, stack_prefixes)
        groups[group] = groups.get(group, 0) + parameter.numel()
    head = getattr(module, "lm_head", None)
    tied = head is not None and any(head.weight is p for n, p in module.named_parameters() if not n.startswith("lm_head"))
    if head is not None:
        groups.setdefault("output head", 0)
    return ParameterBreakdown(groups, tied)
