"""The Head finder's definitions computed the way TransformerLens's `head_detector` computes them (its detection
patterns built as its code builds them, the "mul" measure), from the attention weights of `transformers`' eager
implementation: the reference that core/lessons/head_scores.py is compared against (tests/test_*_parity.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core.lessons.head_scores import REPEATED_KINDS, TEXT_KINDS, model_scores


def previous_token_pattern(tokens: torch.Tensor) -> torch.Tensor:
    t = tokens.shape[-1]
    pattern = torch.zeros(t, t)
    pattern[1:, :-1] = torch.eye(t - 1)  # a diagonal of ones below the main diagonal
    return torch.tril(pattern)


def duplicate_token_pattern(tokens: torch.Tensor) -> torch.Tensor:
    token_pattern = tokens.repeat(tokens.shape[-1], 1).numpy()
    equal = np.equal(token_pattern, token_pattern.T).astype(int)
    np.fill_diagonal(equal, 0)  # a token is always a duplicate of itself: left out
    return torch.tril(torch.as_tensor(equal).float())


def induction_pattern(tokens: torch.Tensor) -> torch.Tensor:
    shifted = torch.roll(duplicate_token_pattern(tokens), shifts=1, dims=1)
    return torch.tril(torch.cat((torch.zeros(tokens.shape[-1], 1), shifted[:, 1:]), dim=1))


def self_pattern(tokens: torch.Tensor) -> torch.Tensor:
    return torch.eye(tokens.shape[-1])


def first_token_pattern(tokens: torch.Tensor) -> torch.Tensor:
    pattern = torch.zeros(tokens.shape[-1], tokens.shape[-1])
    pattern[:, 0] = 1
    return pattern


PATTERNS = {"previous_token": previous_token_pattern, "duplicate_token": duplicate_token_pattern,
            "induction": induction_pattern, "self": self_pattern, "first_token": first_token_pattern}


def head_score(attention: torch.Tensor, kind: str, tokens: torch.Tensor) -> float:
    """One head's (T, T) attention: "mul" against the pattern, or the mean entropy of its rows in bits."""
    attention = attention.double()
    if kind == "entropy":
        return float(-(attention * torch.log2(attention)).nan_to_num().sum(-1).mean())
    return float((attention * PATTERNS[kind](tokens).double()).sum() / attention.sum())


@torch.inference_mode()
def reference_scores(hf, kinds: Sequence[str], sequences: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """{kind: (layers, heads)}: each head's score on each sequence from transformers' attentions, averaged."""
    total: dict[str, np.ndarray] = {}
    for ids in sequences:
        tokens = torch.tensor(list(ids))
        attentions = hf(input_ids=tokens[None], output_attentions=True, use_cache=False).attentions
        for kind in kinds:
            scores = np.array([[head_score(head, kind, tokens) for head in layer[0]] for layer in attentions])
            total[kind] = total.get(kind, 0) + scores
    return {kind: value / len(sequences) for kind, value in total.items()}


def assert_scores_match(ours, hf) -> None:
    """The Head finder's scores on its fixed corpus, read one head at a time from the lazy trace, against
    TransformerLens's definitions computed from transformers' eager attentions on the same token ids (measured
    differences: 1e-7 for the shares, 1e-6 bits for the entropy, on a CPU)."""
    measured = model_scores(ours)
    for kinds in (REPEATED_KINDS, TEXT_KINDS):  # each on its own corpus
        theirs = reference_scores(hf, kinds, measured.corpus.sequences(kinds[0]))
        for kind in kinds:
            assert measured.scores[kind].shape == theirs[kind].shape
            np.testing.assert_allclose(measured.scores[kind], theirs[kind], rtol=0,
                                       atol=1e-5 if kind == "entropy" else 1e-6, err_msg=kind)
