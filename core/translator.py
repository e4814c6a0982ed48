"""The tiny translator: the classic encoder–decoder trained on the toy task of core/translation_task.py.

Its files are in core/data/tiny-translator/: the weights (safetensors), the tokenizer (tokenizer.json,
word level, learned from the generated corpus with `tokenizers`) and the figures of its last training
(metrics.json). `make train-translator` makes all three again (core/train_translator.py).

One tokenizer serves both sides, as the core's models have one vocabulary: Chinese is cut into the
lexicon's words (longest first; any other character is a word of its own, so that an unknown word is
seen as unknown), English at spaces. The encoder reads `<s>` + Chinese words, the decoder writes
English words after `<s>` and stops with `</s>`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors.torch import load_file
from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers, trainers

from .config import ModelConfig
from .errors import N_, InputError
from .loaders.classic import classic_config
from .loaders.weights import assign
from .model import Transformer
from .tokenizers import TextTokenizer
from .training import Pair, Task
from .translation_task import Sentence, chinese_words, random_sentence

if TYPE_CHECKING:
    from .language_model import LanguageModel

DATA_DIR = Path(__file__).parent / "data" / "tiny-translator"
WEIGHTS_FILE, TOKENIZER_FILE, METRICS_FILE = "model.safetensors", "tokenizer.json", "metrics.json"
PAD, START, END, UNKNOWN = "<pad>", "<s>", "</s>", "[UNK]"
SPECIALS = (PAD, START, END)
KIND = "word level"


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Lexicon words (longest first), runs of Latin letters, runs of digits, then any other single character."""
    words = "|".join(re.escape(w) for w in chinese_words())
    return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(words + r"|[A-Za-z]+|[0-9]+|\S"), behavior="isolated"),
                                    pre_tokenizers.WhitespaceSplit()])


def train_tokenizer(texts: Iterable[str]) -> Tokenizer:
    """A word-level vocabulary of every word in `texts` (both languages), most frequent first after the
    special tokens and [UNK]. [UNK] is an ordinary entry, not a special token: a text of unknown words
    is still a text to show."""
    tok = Tokenizer(models.WordLevel(unk_token=UNKNOWN))
    tok.pre_tokenizer = _pre_tokenizer()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=[*SPECIALS, UNKNOWN], show_progress=False))
    vocab = tok.get_vocab()
    final = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNKNOWN))
    final.pre_tokenizer = _pre_tokenizer()
    final.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    return final


def wrap_tokenizer(tok: Tokenizer) -> TextTokenizer:
    return TextTokenizer(tok, KIND, byte_level=False, bos_id=tok.token_to_id(START), pieces="wordpiece")


def load_tokenizer(folder: Path = DATA_DIR) -> TextTokenizer:
    return wrap_tokenizer(Tokenizer.from_file(str(folder / TOKENIZER_FILE)))


def vocab_size_of(folder: Path = DATA_DIR) -> int:
    """The vocabulary size, read from tokenizer.json without building the tokenizer."""
    data = json.loads((folder / TOKENIZER_FILE).read_text(encoding="utf-8"))
    return len(set(data["model"]["vocab"].values()) | {t["id"] for t in data.get("added_tokens", [])})


def translator_config(vocab_size: int) -> ModelConfig:
    """The classic encoder–decoder of the core (2 + 2 layers, 4 heads, d_model 64, sinusoidal positions,
    post-LayerNorm, ReLU), with the translator's vocabulary."""
    return classic_config(vocab_size)


def translator_shape(folder: Path | None = None) -> ModelConfig:
    return translator_config(vocab_size_of(folder or DATA_DIR))


def load_translator(folder: Path | None = None) -> tuple[Transformer, TextTokenizer]:
    folder = folder or DATA_DIR
    tokenizer = load_tokenizer(folder)
    module = Transformer.empty(translator_config(tokenizer.vocab_size))
    assign(module, load_file(str(folder / WEIGHTS_FILE)), str(folder / WEIGHTS_FILE))
    return module.tie_weights(), tokenizer


def metrics(folder: Path = DATA_DIR) -> dict:
    """The figures of the committed weights' training (held-out accuracy among them)."""
    return json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))


def unknown_words(tokenizer: TextTokenizer, text: str) -> list[str]:
    """The words of `text` the encoder was never trained on, in order, each once: outside the vocabulary, or
    English (the vocabulary is shared with the decoder, but the encoder read only Chinese). Each is a word as the
    translator cuts the text, one vocabulary entry it would need: 和香蕉 is 和, 香 and 蕉 (it knows no 香蕉)."""
    source_words = set(chinese_words())
    encoded = tokenizer.encode(text)
    words = []
    for token_id, token, (start, end) in zip(encoded.ids, encoded.tokens, encoded.offsets):
        if token_id in tokenizer.special_ids and start == end:  # the <s> that encoding adds
            continue
        if tokenizer.is_unknown(token_id) or token not in source_words:
            words.append(text[start:end])
    return list(dict.fromkeys(words))


def check_translatable(lm: LanguageModel, text: str) -> None:
    """InputError for a model that is no encoder–decoder, or for a source with words the translator never read."""
    if lm.config.architecture != "encoder-decoder":
        raise InputError(N_("{model} is not an encoder–decoder: it does not translate."), model=lm.name)
    unknown = unknown_words(lm.tokenizer, text) if lm.tokenizer.kind == KIND else []
    if unknown:
        raise InputError(N_("The translator does not know these words: {words}. It knows only the words of its "
                            "toy task (for example 我是一名学生)."), words=", ".join(unknown))


def translate(lm: LanguageModel, text: str, max_new_tokens: int = 40) -> str:
    """Greedy decoding: the most probable next word, one at a time, until `</s>` (or max_new_tokens)."""
    check_translatable(lm, text)
    source, _ = lm.encode(text)
    source_ids = source.ids[: lm.config.max_positions]
    end = next((i for i in lm.tokenizer.special_ids if lm.tokenizer.id_to_token(i) == END), None)
    ids = [lm.tokenizer.bos_id]
    for _ in range(max_new_tokens):
        next_id = int(lm.next_token_logits(ids, source_ids).argmax())
        if next_id == end:
            break
        ids.append(next_id)
    return lm.tokenizer.decode(ids[1:], skip_special_tokens=True)


def encode_pairs(tokenizer: TextTokenizer, pairs: Sequence[tuple[str, str]]) -> list[Pair]:
    """(Chinese, English) texts as (source ids, target ids): the source with its `<s>`, as the model reads
    it; the target without `<s>` (training adds `<s>` before it and `</s>` after it)."""
    sources = tokenizer.encode_batch([zh for zh, _ in pairs])
    targets = tokenizer.encode_batch([en for _, en in pairs])
    start = 0 if tokenizer.bos_id is None else 1
    return [(src, tgt[start:]) for src, tgt in zip(sources, targets)]


PROBE = ("明天我在学校看书", "I read books at school tomorrow")


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
