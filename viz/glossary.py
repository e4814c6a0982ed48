"""One word per concept: the terms the Chinese texts use, the words they never use for the same thing, and
how layers and heads are numbered.

A class hears each concept under one name, the one Chinese textbooks use. The catalogue's msgstrs and the
Chinese explanations are checked against this list (tests/test_texts.py): a word in `avoid` is a second
name for the concept (or a wrong one) and appears in no Chinese text.

Layers and heads are numbered from 0, as in the code, the link (`layer=13&head=8`) and the research
literature (TransformerLens's L13H8). English says "layer 13, head 8"; Chinese writes numbered names,
层 13、头 8 (like 图 3), never the ordinals 第 13 层 / 第 8 个注意力头, which a class reads as counting from 1.
Counting in words stays ordinary: layer 0 is 第一层.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core import N_


@dataclass(frozen=True)
class Term:
    english: str  # the concept, as the English texts name it
    chinese: str  # the one Chinese term for it
    avoid: tuple[str, ...] = ()  # regular expressions: other Chinese words for it, used nowhere
    avoid_english: tuple[str, ...] = ()  # the same for the English texts
    note: str = ""


TERMS: tuple[Term, ...] = (
    Term("token", "词元", ("令牌",)),
    Term("token id", "词元 id", ("词元编号", "词元 ID"),
         note="the number of a token in the vocabulary"),
    Term("attention head", "注意力头", ("注意头", "关注头")),
    Term("score (q · k, or a logit)", "得分", ("分数", "评分"), note="分数 is a fraction in school mathematics"),
    Term("heat map", "热力图", ("热图", "热度图")),
    Term("cell (Game of Life)", "细胞", ("格子",),
         note="as in the source article 001; the cells of a heat map or a table are 方格"),
    Term("learned (parameters, vectors, tables)", "可学习的", ("学出来", r"学到的(?:矩阵|向量|表|增益|参数)")),
    Term("logit", "logit", ("逻辑值", "对数几率"), note="逻辑值 is a Boolean"),
    Term("logit lens", "logit 透镜", ("逻辑值透镜", r"(?<!（)logit lens"), note="the English name only as a gloss, in brackets"),
    Term("masked (a key a query may not see)", "被遮住", ("遮盖", "屏蔽")),
    # The "seed" patterns below are words the interface must never show (tests/test_texts.py fails on them); only
    # the random seed (随机种子) keeps the word, as every training tool names it.
    Term("source article (one of the five Chinese articles)", "来源文章",
         ("种子文章", r"第\s*\d{3}\s*篇", r"(?<!来源)文章"),
         (r"\b[Ss]eed(?:'s)?\s+(?:#?\d|article|document|sentence|example|figure|three-word)",
          r"\b[Tt]he seed(?:'s|\s+(?:uses|says))\b", r"(?<![Ss]ource )\barticles?\b")),
    Term("random seed", "随机种子", (r"(?<!随机)种子",)),
    Term("LayerNorm", "LayerNorm", ("层归一化", "层标准化")),
    Term("RMSNorm", "RMSNorm", ("均方根归一化",)),
    Term("norm (either kind)", "归一化", ("规范化", "标准化")),
    Term("mask", "掩码", ("遮罩", "屏蔽码")),
    Term("vocabulary", "词表", ("词汇表",)),
    Term("tokenizer", "分词器", ("标记器", "切词器")),
    Term("what the app computes (never 'the core', a folder of the code)", "",
         (r"核心(?:模块|代码)", "由核心"), (r"\b[Tt]he core\b",)),
)

# What a layer or head slider says of its numbers (its help).
NUMBERED_FROM_ZERO = N_("Layers and heads are numbered from 0, as in the code, the link and research papers: layer 0 is "
                        "the first layer, head 0 the first head.")

# An ordinal for a 0-based layer or head index: 第 3 层, 第 {layer} 层, 第 **{layer}** 层, 第 2 个注意力头.
ZERO_BASED_ORDINAL = re.compile(r"第\s*(?:\*\*)?\s*(?:\d+|\{[^{}]*\}|[A-Za-z])\s*(?:\*\*)?\s*(?:个)?\s*(?:注意力)?(?:层|头)")

# The tokenizers' kinds (core TextTokenizer.kind), as the pages name them.
TOKENIZER_KINDS = {
    "wordpiece": N_("WordPiece"),
    "byte-level BPE": N_("byte-level BPE"),
    "SentencePiece BPE": N_("SentencePiece BPE (with byte fallback)"),
    "bytes": N_("UTF-8 bytes"),
    "word level": N_("word level (one token per word)"),
}


def tokenizer_name(kind: str, translate) -> str:
    """A tokenizer's kind in the session's language (an unknown kind as it is)."""
    return translate(TOKENIZER_KINDS[kind]) if kind in TOKENIZER_KINDS else kind
