"""What a teacher reads aloud: one term per concept (viz/glossary.py), layers and heads numbered from 0 and never
written as ordinals, the source articles named with their titles, and the facts the explanations state, checked
against the models and the computations they describe."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from core import model_shape
from core.lessons.attention_steps import SEED_ROW
from core.lessons.attribution import MAX_REMOVED
from core.lessons.head_ranking import rank_query_rows
from core.loaders.translator import KIND as TRANSLATOR_KIND
from core.numeric import softmax
from tests.support.gemma import gemma_package
from tests.support.messages import source_messages
from tests.support.models import loaded
from viz import glossary, i18n
from viz.sources import SOURCES

ROOT = Path(__file__).resolve().parent.parent
TIRED = "The animal didn't cross the street because it was too tired"
NARROW = "The animal didn't cross the street because it was too narrow"


def explanations(language: str) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in i18n.EXPLANATIONS.glob(f"*.{language}.md")}


def explanation(name: str, language: str) -> str:
    """One explanation with its line breaks read as Markdown reads them (a space)."""
    return " ".join(i18n.explanation(name, language).split())


def chinese_texts() -> dict[str, str]:
    """Every Chinese text a page can show: the catalogue's translations and the Chinese explanations."""
    texts = {f"msgstr of {message!r}": text for message, text in i18n.catalogue("zh").items()}
    return texts | explanations("zh")


def english_texts() -> dict[str, str]:
    """The English explanations and interface strings."""
    messages = {f"msgid in {where}": message for message, where in source_messages().items()}
    return messages | explanations("en")


def offences(texts: dict[str, str], patterns) -> list[tuple[str, str, str]]:
    return [(where, pattern, match.group(0)) for where, text in texts.items() for pattern in patterns
            for match in re.finditer(pattern, text)]


# ---------------------------------------------------------------- one term per concept


def test_the_chinese_texts_use_only_the_glossary_term_for_each_concept():
    avoid = [pattern for term in glossary.TERMS for pattern in term.avoid]
    found = offences(chinese_texts(), avoid)
    assert not found, f"{len(found)} Chinese texts use a word the glossary avoids, e.g. {found[:8]}"


def test_the_english_texts_use_only_the_glossary_term_for_each_concept():
    avoid = [pattern for term in glossary.TERMS for pattern in term.avoid_english]
    found = offences(english_texts(), avoid)
    assert not found, f"{len(found)} English texts use a word the glossary avoids, e.g. {found[:8]}"


def test_the_glossary_patterns_catch_the_words_they_are_meant_for():
    """The check above could fail: each pattern finds the wrong word it was written against."""
    examples = {
        "热图": "这张热图", "分数": "每个词元一个分数", "格子": "活格子", "学出来": "学出来的位置表",
        "逻辑值透镜": "logit lens（逻辑值透镜）", "种子文章": "种子文章 002", r"第\s*\d{3}\s*篇": "第 002 篇文章",
        r"(?<!随机)种子": "按种子生成", "层归一化": "层归一化在每个子层之前", "词元编号": "只看到词元编号",
    }
    patterns = {pattern for term in glossary.TERMS for pattern in term.avoid}
    for pattern, text in examples.items():
        assert pattern in patterns and re.search(pattern, text), pattern
    assert not offences({"ok": "随机种子、热力图、得分、来源文章 002、可学习的、细胞、方格"},
                        [p for term in glossary.TERMS for p in term.avoid])
    english = [p for term in glossary.TERMS for p in term.avoid_english]
    for bad in ("(seed 002)", "Seed 003's formula", "The seed's own example", "the seed sentence", "The core runs"):
        assert offences({"bad": bad}, english), bad
    for good in ("Seed of the random numbers", "The same seed gives the same sampled continuation.",
                 "source article 002", "Source article 002"):
        assert not offences({"good": good}, english), good


# ---------------------------------------------------------------- layers and heads, from 0


def test_no_chinese_text_counts_a_layer_or_head_index_with_an_ordinal():
    found = offences(chinese_texts(), [glossary.ZERO_BASED_ORDINAL.pattern])
    assert not found, f"ordinals for 0-based layers or heads: {found[:8]}"
    for bad in ("第 {layer} 层", "第 13 层", "第 1 层第 2 个注意力头", "第 {head} 个头", "从第 **{layer}** 层起"):
        assert glossary.ZERO_BASED_ORDINAL.search(bad), bad
    for good in ("层 {layer}、头 {head}", "第一层", "第十四层里的第九个注意力头", "第 {generation} 代"):
        assert not glossary.ZERO_BASED_ORDINAL.search(good), good


def test_the_overview_says_once_that_layers_and_heads_count_from_zero():
    assert "numbered from 0" in explanation("overview", "en")
    assert "从 0 开始编号" in explanation("overview", "zh")
    zh = i18n.catalogue("zh")
    assert zh["layer {layer}, head {head}"] == "层 {layer}、头 {head}"


# ---------------------------------------------------------------- the source articles


@pytest.mark.parametrize("language, name", [("en", "source article"), ("zh", "来源文章")])
def test_an_explanation_gives_an_articles_title_where_it_first_names_it(language, name):
    cited = 0
    for file in explanations(language):
        text = explanation(file.split(".")[0], language)
        mentions = list(re.finditer(re.escape(name) + r"(?: (\d{3}))?", text, flags=re.I))
        if not mentions:
            continue
        assert mentions[0].group(1), f"{file} first names a source article without its number and title"
        for number in {m.group(1) for m in mentions if m.group(1)}:
            first = next(m for m in mentions if m.group(1) == number)
            expected = SOURCES[number].cite(language)
            assert text[first.start():].lower().startswith(expected.lower()), (file, expected)
            cited += 1
    assert cited >= 7


def test_the_worked_examples_are_listed_with_every_articles_title_in_both_languages():
    for path, language in (("docs/worked-examples.md", "en"), ("docs/worked-examples.zh.md", "zh")):
        text = (ROOT / path).read_text(encoding="utf-8")
        for source in SOURCES.values():
            assert source.chinese in text and (language == "zh" or source.english in text), (path, source.number)
        assert not offences({path: text}, [p for term in glossary.TERMS
                                           for p in (term.avoid if language == "zh" else ())])


# ---------------------------------------------------------------- the facts the explanations state


def test_the_multi_head_text_states_the_models_real_head_shapes():
    smol, _ = model_shape("smollm2-135m")
    assert (smol.n_heads, smol.kv_heads, smol.head_dim, smol.d_model) == (9, 3, 64, 576)
    assert smol.n_heads * smol.head_dim == smol.d_model
    text, zh = explanation("multi_head", "en"), explanation("multi_head", "zh")
    assert "SmolLM2's 9 query heads share 3 key/value heads" in text and "9 个查询头共用 3 个键/值头" in zh
    gemma_package()
    gemma, _ = model_shape("gemma3-270m")
    assert (gemma.n_heads, gemma.kv_heads, gemma.head_dim, gemma.d_model) == (4, 1, 256, 640)
    assert gemma.n_heads * gemma.head_dim == 1024 != gemma.d_model
    assert "4 · 256 = 1024 wide while d_model is 640" in text and "4 · 256 = 1024，而 d_model 是 640" in zh


def test_the_feed_forward_text_states_the_models_real_widths():
    text, zh = explanation("block_feed_forward", "en"), explanation("block_feed_forward", "zh")
    minilm, _ = model_shape("minilm-l6")
    smol, _ = model_shape("smollm2-135m")
    assert minilm.d_ff == 4 * minilm.d_model
    assert f"{minilm.d_ff} = 4 × {minilm.d_model}" in text and f"{minilm.d_ff} = 4 × {minilm.d_model}" in zh
    ratio = f"{smol.d_ff} = {smol.d_ff / smol.d_model:.2f} × {smol.d_model}"
    assert abs(smol.d_ff / smol.d_model - 8 / 3) < 0.01 and ratio in text and ratio in zh
    gemma_package()
    gemma, _ = model_shape("gemma3-270m")
    ratio = f"{gemma.d_ff} = {gemma.d_ff / gemma.d_model:.1f} × {gemma.d_model}"
    assert ratio in text and ratio in zh


def test_where_the_norm_sits_is_what_the_models_do():
    placements = {name: model_shape(name)[0] for name in ("minilm-l6", "classic", "tiny-translator", "smollm2-135m")}
    assert {name for name, c in placements.items() if c.norm_placement == "post"} == {
        "minilm-l6", "classic", "tiny-translator"}
    assert placements["smollm2-135m"].norm == "rmsnorm" and not placements["smollm2-135m"].sandwich_norm
    # The notice's claim, measured: a pre-norm stream grows, a post-norm stream keeps its size.
    for name, text in (("smollm2-135m", "The highest mountain in the world is"), ("minilm-l6", TIRED),
                       ("tiny-translator", "我 是 一名 学生")):
        norms = np.linalg.norm(np.asarray(loaded(name).trace(text).hidden_states, dtype=np.float64)[:, -1], axis=-1)
        if name == "smollm2-135m":
            assert norms[-1] > 10 * norms[1]
        else:
            assert norms[1:].max() < 2 * norms[1:].min(), (name, norms)
    assert "sandwich norm" in explanation("inside_block", "en") and "三明治归一化" in explanation("inside_block", "zh")
    gemma_package()
    gemma, _ = model_shape("gemma3-270m")
    assert gemma.norm_placement == "pre" and gemma.sandwich_norm


def test_rmsnorm_leaves_a_mean_that_is_not_zero_as_the_norms_text_says():
    x = np.array([3.0, 1.0, 2.0, 6.0])
    y = x / np.sqrt(np.mean(x**2))
    assert np.mean(y**2) == pytest.approx(1.0) and np.mean(y) == pytest.approx(np.mean(x) / np.sqrt(np.mean(x**2)))
    assert np.mean(y) > 0.8
    assert "the result's mean is in general not 0" in explanation("block_norms", "en")
    assert "结果的均值一般不是 0" in explanation("block_norms", "zh")


def _power_of_ten(value: float, digits: int) -> str:
    """1.8·10⁻³⁵, as the texts write a small number."""
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    superscript = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    return f"{mantissa}·10{str(int(exponent)).translate(superscript)}"


def test_the_scaling_text_gives_the_true_softmax_of_the_articles_row():
    probs = softmax(SEED_ROW)
    stated = ", ".join(_power_of_ten(p, 1) for p in probs[1:])
    assert stated == "2.1·10⁻⁹, 1.8·10⁻³⁵, 6.1·10⁻³⁹"
    assert f"1, {stated}" in explanation("attention_scaling", "en")
    assert "1、" + "、".join(_power_of_ten(p, 1) for p in probs[1:]) in explanation("attention_scaling", "zh")
    assert probs[1] / probs[0] == pytest.approx(math.exp(-20))


def test_the_attribution_text_states_how_many_tokens_removal_measures():
    for text in (explanation("token_attribution", "en"), explanation("token_attribution", "zh")):
        assert f"{MAX_REMOVED}" in text and f"{MAX_REMOVED * (MAX_REMOVED + 1) // 2:,}" in text  # positions run


def test_the_encoder_decoder_text_says_what_the_classic_model_shares_with_the_translator():
    classic, translator = loaded("classic"), loaded("tiny-translator")
    for field in ("d_model", "n_layers", "n_heads", "d_ff"):
        assert getattr(classic.config, field) == getattr(translator.config, field), field
    ids = classic.tokenizer.encode("我是一名学生").ids
    assert ids[0] == classic.tokenizer.bos_id and len(ids) - 1 == 18 == len("我是一名学生".encode())
    assert len(translator.tokenizer.encode("我是一名学生").ids) - 1 == 5  # words, not bytes
    stated = json.loads((ROOT / "core/data/tiny-translator/metrics.json").read_text())["held_out"]
    assert stated["sentences"] == 500 and stated["exact_match"] == 1.0
    text, zh = explanation("encoder_decoder", "en"), explanation("encoder_decoder", "zh")
    assert "18 byte tokens" in text and "18 个字节词元" in zh and "500" in text and "500" in zh
    assert "make" not in text and "make" not in zh


def test_the_tokenization_text_names_what_each_tokenizer_is():
    minilm = loaded("minilm-l6").tokenizer
    assert minilm.kind == "wordpiece" and minilm.encode("Hello").tokens[1] == "hello"  # the normaliser lower-cases
    text = explanation("tokenization", "en")
    assert "SentencePiece** is a toolkit" in text and "normaliser" in text
    gemma_package()
    gemma = loaded("gemma3-270m").tokenizer
    assert gemma.kind == "SentencePiece BPE"
    rare = "\U000F0000"  # a private-use character no vocabulary spells: byte fallback, one token per byte
    assert [gemma.token_bytes(i) for i in gemma.encode(rare).ids[1:]] == [bytes([b]) for b in rare.encode()]


def test_every_tokenizer_kind_has_a_name_in_both_languages():
    kinds = {"wordpiece", "byte-level BPE", "SentencePiece BPE", "bytes", TRANSLATOR_KIND}
    assert kinds <= set(glossary.TOKENIZER_KINDS)
    zh = i18n.catalogue("zh")
    assert all(zh.get(glossary.TOKENIZER_KINDS[kind]) for kind in kinds)
    assert glossary.tokenizer_name("word level", i18n.translator("zh")) != "word level"


def _it_rows(name: str, text: str) -> tuple[np.ndarray, list[str]]:
    lm = loaded(name)
    trace = lm.trace(text)
    labels = [lm.tokenizer.token_text(i).strip() for i in trace.token_ids]
    query = labels.index("it")
    rows = np.stack([np.asarray(layer.self_attn.probs, dtype=np.float32)[:, query] for layer in trace.layers])
    return rows, labels  # (layers, heads, keys)


def test_the_attention_notice_claims_what_each_model_measures():
    (tired, labels), (narrow, _) = _it_rows("smollm2-135m", TIRED), _it_rows("smollm2-135m", NARROW)
    query = labels.index("it")
    np.testing.assert_allclose(tired[..., : query + 1], narrow[..., : query + 1], atol=2e-3)  # "it" cannot see the end
    sinks = np.zeros(len(labels), dtype=bool)
    sinks[0] = True
    for rows in (tired, narrow):
        ranked = rank_query_rows(list(rows), query, sinks, top=rows.shape[0] * rows.shape[1])
        found = {(s.layer, s.head): labels[s.key] for s in ranked}  # each head's strongest content key
        assert found[(13, 8)] == "animal" and found[(21, 6)] == "street"
    for text in (TIRED, NARROW):  # an encoder sees the last word, and still never looks from "it" to "street" much
        rows, labels = _it_rows("minilm-l6", text)
        assert rows[..., labels.index("street")].max() < 0.25
    notice = explanation("notice_attention", "en")
    assert "layer 13, head 8" in notice and "layer 21, head 6" in notice and "a quarter" in notice
    assert "层 13、头 8" in explanation("notice_attention", "zh")
    gemma_package()
    (tired, labels), (narrow, _) = _it_rows("gemma3-270m", TIRED), _it_rows("gemma3-270m", NARROW)
    query = labels.index("it")
    np.testing.assert_allclose(tired[..., : query + 1], narrow[..., : query + 1], atol=2e-3)
