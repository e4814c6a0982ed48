"""How a byte-level BPE tokenizer is learned: train one on a small corpus, then replay its merges with counts.

Training is done by Hugging Face `tokenizers` (the same library that runs the real
models' tokenizers). It reports the merges in the order it learned them, but not how
often each pair occurred, so this module counts them itself: the corpus is cut into
words by the same pre-tokenizer, each word is written as byte-level symbols, and the
merges are replayed one by one while every adjacent pair's count is kept up to date.
`learn_merges` runs the whole algorithm on its own (most frequent pair first, ties to
the pair of smaller ids, as `tokenizers` breaks them), so the tests can check that the
library's order is the order the counts give.

Counts are weighted by how often each word occurs, and a pair inside a word is counted
at every position where it stands (in "aaa" the pair a·a stands twice), as the trainer
counts it.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from core.errors import N_, InputError, Message
from core.text.tokenizers import _LONE_SURROGATE, TextTokenizer, _byte_decoder

LESSON_CORPUS = Path(__file__).parents[1] / "data" / "lesson_corpus.txt"
MAX_CORPUS_BYTES = 300_000  # trains in well under a second here; longer input is cut, with a note
MERGE_CHOICES = (100, 300, 1_000, 2_000, 5_000)  # how many merges a page may ask for
DEFAULT_MERGES = 1_000
MAX_MERGES = MERGE_CHOICES[-1]
MIN_COUNT = 2  # a pair seen once is not worth a token: training stops when the most frequent pair is this rare
MAX_RUN_CHARS = 64  # a longer word (Chinese without punctuation) is cut into pieces for training


def pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """GPT-2's: split at its regex (a space joins the word after it), then write each byte as a character."""
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def alphabet() -> list[str]:
    """The 256 byte characters, in the order the trainer numbers them (by code point)."""
    return sorted(pre_tokenizers.ByteLevel.alphabet())


def symbol_bytes(symbol: str) -> bytes:
    """The bytes a byte-level vocabulary string stands for ("Ġt" -> b" t")."""
    table = _byte_decoder()
    return bytes(table[char] for char in symbol)


def lesson_corpus() -> str:
    return LESSON_CORPUS.read_text(encoding="utf-8")


def pieces(text: str) -> list[str]:
    """`text` cut inside every word of more than MAX_RUN_CHARS characters, and nowhere else.

    The trainer treats each piece as a text of its own, so no word is longer than the cut: a word's
    symbols are rewritten at every merge it holds, and one 300 KB word (Chinese without punctuation)
    would take minutes. Words come from the pre-tokenizer itself, with their character offsets."""
    cuts = [cut for _, (start, end) in pre_tokenizer().pre_tokenize_str(text) if end - start > MAX_RUN_CHARS
            for cut in range(start + MAX_RUN_CHARS, end, MAX_RUN_CHARS)]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def word_counts(text: str | list[str]) -> Counter[str]:
    """Each pre-tokenized word of `text` (or of each of its pieces), as byte-level characters, and how often
    it occurs."""
    tokenize = pre_tokenizer().pre_tokenize_str
    return Counter(word for piece in ([text] if isinstance(text, str) else text) for word, _ in tokenize(piece))


# ---------------------------------------------------------------- counting pairs


class PairCounts:
    """The words of a corpus as lists of symbols, and the count of every pair of neighbouring symbols.

    `merge` rewrites only the words that hold the pair and updates the counts of the pairs
    around each change, so replaying a thousand merges over a few hundred KB takes a fraction
    of a second."""

    def __init__(self, words: Counter[str] | dict[str, int]):
        self.words = [list(word) for word in words]
        self.freq = list(words.values())
        self.counts: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.where: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
        self.tokens = 0  # symbols in the whole corpus, each word counted as often as it occurs
        for index, (symbols, n) in enumerate(zip(self.words, self.freq)):
            self.tokens += len(symbols) * n
            for pair in zip(symbols, symbols[1:]):
                self.counts[pair] += n
                self.where[pair].add(index)

    def count(self, left: str, right: str) -> int:
        return self.counts.get((left, right), 0)

    def merge(self, left: str, right: str) -> set[tuple[str, str]]:
        """Join every `left right` (leftmost first) into one symbol; returns the pairs whose counts grew.

        Only the neighbours of each joined pair change: before it, (x, left) becomes (x, left+right);
        after it, (right, y) becomes (left+right, y). Occurrences are found with list.index, so a long
        word costs little where the pair is rare."""
        joined, grown, counts, where = left + right, set(), self.counts, self.where
        for index in where.pop((left, right), ()):
            old, n = self.words[index], self.freq[index]
            new, i, end, found = [], 0, len(old), False
            while True:
                try:
                    j = old.index(left, i)
                except ValueError:
                    break
                if j + 1 == end or old[j + 1] != right:
                    new.extend(old[i:j + 1])
                    i = j + 1
                    continue
                new.extend(old[i:j])
                if new:  # the symbol before: possibly the pair joined just before this one
                    before = new[-1]
                    counts[(before, left)] -= n
                    counts[(before, joined)] += n
                    where[(before, joined)].add(index)
                    grown.add((before, joined))
                if j + 2 < end:
                    after = old[j + 2]
                    counts[(right, after)] -= n
                    counts[(joined, after)] += n
                    where[(joined, after)].add(index)
                    grown.add((joined, after))
                new.append(joined)
                i, found = j + 2, True
            if not found:
                continue  # a stale entry: the word no longer holds the pair
            new.extend(old[i:])
            self.words[index] = new
            self.tokens -= (end - len(new)) * n
        counts.pop((left, right), None)
        return grown


def learn_merges(words: Counter[str] | dict[str, int], n_merges: int,
                 min_count: int = MIN_COUNT) -> list[tuple[str, str, int]]:
    """BPE from scratch: (left, right, count) of each merge, most frequent pair first.

    Ties go to the pair whose symbols have the smaller ids (left first, then right), where the
    256 bytes are numbered by code point and each new symbol takes the next id: the order
    `tokenizers`' trainer uses, so the two agree merge for merge."""
    pairs = PairCounts(words)
    ids = {symbol: i for i, symbol in enumerate(alphabet())}
    heap = [(-count, ids[a], ids[b], a, b) for (a, b), count in pairs.counts.items() if count > 0]
    heapq.heapify(heap)
    merges: list[tuple[str, str, int]] = []
    while heap and len(merges) < n_merges:
        negative, _, _, left, right = heapq.heappop(heap)
        count = pairs.count(left, right)
        if count != -negative:  # an old entry: the pair's count fell since it was pushed
            if count > 0:
                heapq.heappush(heap, (-count, ids[left], ids[right], left, right))
            continue
        if count < max(min_count, 1):
            break
        merges.append((left, right, count))
        ids.setdefault(left + right, len(ids))
        for a, b in pairs.merge(left, right):
            if pairs.count(a, b) > 0:
                heapq.heappush(heap, (-pairs.count(a, b), ids[a], ids[b], a, b))
    return merges


# ---------------------------------------------------------------- training with `tokenizers`


@dataclass(frozen=True)
class MergeStep:
    step: int  # 1 for the first merge learned
    left: str  # vocabulary strings, byte-level characters ("Ġ", "t")
    right: str
    token_id: int  # the new token's id in the trained vocabulary
    count: int  # how often the pair stood side by side in the corpus when it was merged
    corpus_tokens: int  # tokens in the whole corpus after this merge

    @property
    def token(self) -> str:
        return self.left + self.right


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per training
class TrainedBPE:
    vocab: dict[str, int]  # every token the trainer made: the 256 bytes, then one per merge
    merges: tuple[MergeStep, ...]
    corpus_chars: int  # of the text trained on (after any cut)
    corpus_bytes: int  # = the corpus's tokens before any merge
    words: int  # pre-tokenized words, counted as often as they occur
    distinct_words: int
    requested: int  # the merges asked for; fewer are learned when no pair occurs MIN_COUNT times
    notes: tuple[Message, ...] = field(default_factory=tuple)

    @property
    def n_merges(self) -> int:
        return len(self.merges)

    def corpus_tokens(self, k: int) -> int:
        """Tokens in the corpus after the first k merges."""
        return self.corpus_bytes if k == 0 else self.merges[k - 1].corpus_tokens

    def tokenizer(self, k: int) -> TextTokenizer:
        """The tokenizer made of the 256 bytes and the first k merges."""
        return _truncated(self, _check_k(self, k))

    def tokens_after_each_merge(self, text: str) -> np.ndarray:
        """(n_merges + 1,) how many tokens `text` has after 0, 1, …, n_merges merges."""
        pairs = PairCounts(word_counts(_LONE_SURROGATE.sub("\ufffd", text)))  # as `train` reads the corpus
        counts = [pairs.tokens]
        for merge in self.merges:
            pairs.merge(merge.left, merge.right)
            counts.append(pairs.tokens)
        return np.array(counts, dtype=np.int64)


def _check_k(trained: TrainedBPE, k: int) -> int:
    if not 0 <= int(k) <= trained.n_merges:
        raise InputError(N_("There are {count} merges; pick 0 to {count}."), count=trained.n_merges)
    return int(k)


@lru_cache(maxsize=64)
def _truncated(trained: TrainedBPE, k: int) -> TextTokenizer:
    steps = trained.merges[:k]
    vocab = {symbol: trained.vocab[symbol] for symbol in alphabet()}
    vocab.update({step.token: trained.vocab[step.token] for step in steps})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(step.left, step.right) for step in steps]))
    tok.pre_tokenizer = pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    return TextTokenizer(tok, "byte-level BPE", byte_level=True)


def cut_corpus(text: str, max_bytes: int = MAX_CORPUS_BYTES) -> tuple[str, tuple[Message, ...]]:
    """The text, cut at a character boundary to at most `max_bytes` UTF-8 bytes, with a note if cut."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= max_bytes:
        return text, ()
    kept = data[:max_bytes].decode("utf-8", errors="ignore")
    return kept, (Message(N_("The text has {total:,} bytes; training uses its first {kept:,} ({chars:,} characters)."),
                          total=len(data), kept=len(kept.encode("utf-8")), chars=len(kept)),)


def library_merges(text: str, n_merges: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train `tokenizers`' BPE trainer on `text`: its vocabulary and its merges, in order."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=len(alphabet()) + n_merges, min_frequency=MIN_COUNT,
                                  initial_alphabet=alphabet(), show_progress=False, special_tokens=[])
    tok.train_from_iterator(pieces(text), trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def train(text: str, n_merges: int) -> TrainedBPE:
    """Learn up to `n_merges` merges from `text` (cut to MAX_CORPUS_BYTES), each with its count."""
    if not 0 <= n_merges <= MAX_MERGES:
        raise InputError(N_("Learn between 0 and {count:,} merges."), count=MAX_MERGES)
    text = _LONE_SURROGATE.sub("\ufffd", text)  # not valid Unicode: `tokenizers` refuses it
    text, notes = cut_corpus(text)
    if not text:
        raise InputError(N_("There is nothing to learn from: the text is empty."))
    vocab, merges = library_merges(text, n_merges)
    words = word_counts(pieces(text))
    pairs = PairCounts(words)
    steps = []
    for step, (left, right) in enumerate(merges, start=1):
        count = pairs.count(left, right)
        pairs.merge(left, right)
        steps.append(MergeStep(step, left, right, vocab[left + right], count, pairs.tokens))
    return TrainedBPE(vocab, tuple(steps), len(text), len(text.encode("utf-8")), sum(words.values()), len(words),
                      n_merges, notes)

