"""core/text/bpe_training.py: the pair counts are right, the counts give `tokenizers`' own merge order, and
the tokenizer after k merges is the library's BPE with the first k merges."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from tokenizers import models

from core import InputError
from core.text import bpe_training as bpe

HUG = "hug hug hug pug pug"
# Worked by hand. Words: hug ×1, Ġhug ×2, Ġpug ×2 (Ġ is the byte of a space).
#   u·g stands in all five: 5. Then h·ug: 1 + 2 = 3. Then Ġ·hug, Ġ·p and p·ug stand twice each: the tie
#   goes to the pair with the smaller ids, and p (a letter) is numbered before Ġ (code point 288);
#   then Ġ·hug before Ġ·pug, as hug (id 257) was made before pug (258). Every pair left stands once.
HUG_MERGES = [("u", "g", 5), ("h", "ug", 3), ("p", "ug", 2), ("Ġ", "hug", 2), ("Ġ", "pug", 2)]


def mixed_corpus(seed: int, words: int = 3_000) -> str:
    """Random text with many ties: a small alphabet, English and Chinese, repeated words."""
    rng = random.Random(seed)
    syllables = ["ka", "ki", "to", "ta", "ne", "an", "编程", "模型", "词", "元", "the", "ing", "aa", "a"]
    vocabulary = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(300)]
    return " ".join(rng.choice(vocabulary) for _ in range(words)) + "\n" + "\n\n ".join(vocabulary[:20])


def recount(vocab: dict[str, int], merges: list[tuple[str, str]], words: Counter[str]) -> Counter:
    """Every pair's count after `merges`, from scratch: each word segmented by `tokenizers`' own BPE model,
    neighbours counted at every position, weighted by the word's count. No index, no shared code."""
    model = models.BPE(vocab=vocab, merges=merges)
    counts = Counter()
    for word, n in words.items():
        pieces = [token.value for token in model.tokenize(word)]
        for pair in zip(pieces, pieces[1:]):
            counts[pair] += n
    return counts


def test_the_worked_example_by_hand():
    vocab, merges = bpe.library_merges(HUG, 100)
    assert merges == [(a, b) for a, b, _ in HUG_MERGES]
    assert bpe.learn_merges(bpe.word_counts(HUG), 100) == HUG_MERGES
    trained = bpe.train(HUG, 100)
    assert [(m.left, m.right, m.count) for m in trained.merges] == HUG_MERGES
    assert trained.corpus_bytes == len(HUG.encode()) == 19
    # After all five merges the corpus is hug, Ġhug, Ġhug, Ġpug, Ġpug: five tokens.
    assert [m.corpus_tokens for m in trained.merges] == [14, 11, 9, 7, 5]
    assert trained.requested == 100 and trained.n_merges == 5


@pytest.mark.parametrize("corpus", ["lesson", "mixed-1", "mixed-2"])
def test_our_counts_give_the_library_s_merge_order(corpus):
    text = bpe.lesson_corpus() if corpus == "lesson" else mixed_corpus(int(corpus[-1]))
    _, merges = bpe.library_merges(text, 3_000)
    ours = bpe.learn_merges(bpe.word_counts(text), 3_000)
    assert len(merges) > 300
    assert [(a, b) for a, b, _ in ours] == merges


def test_each_count_is_the_pairs_true_count_and_the_largest_at_its_step():
    text = bpe.lesson_corpus()
    trained = bpe.train(text, 1_000)
    words = bpe.word_counts(text)
    pairs = [(m.left, m.right) for m in trained.merges]
    steps = list(range(0, 40)) + list(range(40, trained.n_merges, 97)) + [trained.n_merges - 1]
    for index in steps:
        counts = recount(trained.vocab, pairs[:index], words)
        merge = trained.merges[index]
        assert merge.count == counts[(merge.left, merge.right)], merge
        assert merge.count == max(counts.values()), f"merge {merge.step} was not the most frequent pair"
        assert recount(trained.vocab, pairs[:index + 1], words)[(merge.left, merge.right)] == 0
        if index in (0, 17, trained.n_merges - 1):
            model = models.BPE(vocab=trained.vocab, merges=pairs[:index + 1])
            assert merge.corpus_tokens == sum(n * len(model.tokenize(w)) for w, n in words.items())
    assert trained.merges[0].count == 214  # "Ġ t": a space, then t, in the lesson corpus


def test_counts_are_weighted_and_overlapping_pairs_count_at_every_position():
    pairs = bpe.PairCounts(Counter({"aaa": 3, "ab": 2}))
    assert pairs.count("a", "a") == 6  # two positions in aaa, three times
    assert pairs.count("a", "b") == 2 and pairs.tokens == 3 * 3 + 2 * 2
    pairs.merge("a", "a")  # aaa -> aa a (leftmost first)
    assert pairs.words[0] == ["aa", "a"] and pairs.count("aa", "a") == 3 and pairs.count("a", "a") == 0
    assert pairs.tokens == 3 * 2 + 2 * 2


def test_the_tokenizer_after_k_merges_is_the_library_s_bpe_with_the_first_k():
    trained = bpe.train(bpe.lesson_corpus(), 1_000)
    sentence = "AI+编程 扬帆起航. The tokenizer learns merges; 模型 reads tokens!"
    curve = trained.tokens_after_each_merge(sentence)
    assert curve.shape == (trained.n_merges + 1,)
    assert curve[0] == len(sentence.encode("utf-8"))
    assert (np.diff(curve) <= 0).all()
    for k in (0, 1, 10, 100, 333, 1_000):
        tokenizer = trained.tokenizer(k)
        ids = tokenizer.encode(sentence).ids
        assert len(ids) == curve[k]
        assert tokenizer.decode(ids) == sentence
        assert tokenizer.vocab_size == 256 + k
        assert max(ids) < 256 + k
    # On the lesson corpus, 编程 is one token after 1,000 merges; SmolLM2's vocabulary has no such token.
    assert "编程" in [trained.tokenizer(1_000).token_text(i) for i in trained.tokenizer(1_000).encode("AI+编程").ids]
    with pytest.raises(InputError):
        trained.tokenizer(trained.n_merges + 1)


def test_input_is_bounded_cut_at_a_character_and_empty_input_refused():
    text = "编程模型" * 40_000  # 480,000 bytes
    kept, notes = bpe.cut_corpus(text)
    assert len(kept.encode("utf-8")) <= bpe.MAX_CORPUS_BYTES and text.startswith(kept) and len(notes) == 1
    assert len(kept.encode("utf-8")) % 3 == 0  # no half character
    assert bpe.cut_corpus("short") == ("short", ())
    trained = bpe.train(text, 100)
    assert trained.corpus_bytes <= bpe.MAX_CORPUS_BYTES and trained.notes == notes
    with pytest.raises(InputError):
        bpe.train("", 100)
    with pytest.raises(InputError):
        bpe.train("abc", bpe.MAX_MERGES + 1)
    assert bpe.train("abc", 100).n_merges == 0  # no pair stands twice
    assert bpe.train("x\ud800y x\ud800y", 10).n_merges > 0  # a lone surrogate does not stop training


def test_a_sentence_with_a_lone_surrogate_is_counted_as_training_reads_one():
    trained = bpe.train("x\ud800y x\ud800y", 10)
    counts = trained.tokens_after_each_merge("x\ud800y")  # raised UnicodeEncodeError in `tokenizers`
    np.testing.assert_array_equal(counts, trained.tokens_after_each_merge("x\ufffdy"))
    assert counts[0] == len("x\ufffdy".encode()) and counts[-1] < counts[0]


def test_symbols_read_as_their_bytes():
    assert bpe.symbol_bytes("Ġt") == b" t"
    assert bpe.symbol_bytes("ç¼ĸ") == "编".encode()
    assert len(bpe.alphabet()) == 256 and bpe.alphabet() == sorted(bpe.alphabet())


def test_words_longer_than_the_cut_are_split_for_training_and_nothing_else_is():
    text = "ab " + "编程模型" * 40 + " cd, the end"
    found = bpe.pieces(text)
    assert "".join(found) == text
    assert max(len(word) for word in bpe.word_counts(found)) <= 3 * bpe.MAX_RUN_CHARS + 1  # bytes, with a space
    assert bpe.pieces(bpe.lesson_corpus()) == [bpe.lesson_corpus()]  # no word there is that long
    # Our counts still give the library's order when it trains on the pieces.
    _, merges = bpe.library_merges(text * 3, 200)
    assert [(a, b) for a, b, _ in bpe.learn_merges(bpe.word_counts(bpe.pieces(text * 3)), 200)] == merges
