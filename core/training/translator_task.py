"""The tiny translator's training: its word-level vocabulary learned from the generated corpus, and the toy task
of core/text/translation_task.py as a training `Task` (`make train-translator` runs it)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from tokenizers import AddedToken, Tokenizer, models, trainers

from core.loaders.translator import END, PAD, SPECIALS, START, UNKNOWN, pre_tokenizer
from core.text.tokenizers import TextTokenizer
from core.text.translation_task import Sentence, random_sentence
from core.training.trainer import Pair, Task

PROBE = ("明天我在学校看书", "I read books at school tomorrow")

def train_tokenizer(texts: Iterable[str]) -> Tokenizer:
    """A word-level vocabulary of every word in `texts` (both languages), most frequent first after the
    special tokens and [UNK]. [UNK] is an ordinary entry, not a special token: a text of unknown words
    is still a text to show."""
    tok = Tokenizer(models.WordLevel(unk_token=UNKNOWN))
    tok.pre_tokenizer = pre_tokenizer()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=[*SPECIALS, UNKNOWN], show_progress=False))
    vocab = tok.get_vocab()
    final = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNKNOWN))
    final.pre_tokenizer = pre_tokenizer()
    final.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    return final


def encode_pairs(tokenizer: TextTokenizer, pairs: Sequence[tuple[str, str]]) -> list[Pair]:
    """(Chinese, English) texts as (source ids, target ids): the source with its `<s>`, as the model reads
    it; the target without `<s>` (training adds `<s>` before it and `</s>` after it)."""
    sources = tokenizer.encode_batch([zh for zh, _ in pairs])
    targets = tokenizer.encode_batch([en for _, en in pairs])
    start = 0 if tokenizer.bos_id is None else 1
    return [(src, tgt[start:]) for src, tgt in zip(sources, targets)]


def translation_task(tokenizer: TextTokenizer) -> Task:
    """The toy task's training split as a training `Task` (held-out triples never drawn)."""

    def sample(rng: random.Random, n: int) -> list[Pair]:
        drawn: list[Sentence] = []
        while len(drawn) < n:
            sentence = random_sentence(rng)
            if not sentence.held_out:
                drawn.append(sentence)
        return encode_pairs(tokenizer, [(s.chinese(), s.english()) for s in drawn])

    special = {tokenizer.id_to_token(i): i for i in tokenizer.special_ids}
    labels = tuple(tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size))
    return Task("translation", tokenizer.vocab_size, special[PAD], special[START], special[END], sample,
                encode_pairs(tokenizer, [PROBE])[0], labels)
