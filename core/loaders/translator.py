"""The tiny translator: the classic encoder–decoder trained on the toy task of core/text/translation_task.py.

Its files are in core/data/tiny-translator/: the weights (safetensors), the tokenizer (tokenizer.json,
word level, learned from the generated corpus with `tokenizers`) and the figures of its last training
(metrics.json). `make train-translator` makes all three again (core/training/train_translator.py).

One tokenizer serves both sides, as the core's models have one vocabulary: Chinese is cut into the
lexicon's words (longest first; any other character is a word of its own, so that an unknown word is
seen as unknown), English at spaces. The encoder reads `<s>` + Chinese words, the decoder writes
English words after `<s>` and stops with `</s>`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from safetensors.torch import load_file
from tokenizers import Regex, Tokenizer, pre_tokenizers

from core.engine.config import ModelConfig
from core.engine.model import Transformer
from core.loaders.classic import classic_config
from core.loaders.weights import assign
from core.text.tokenizers import TextTokenizer
from core.text.translation_task import chinese_words

DATA_DIR = Path(__file__).parents[1] / "data" / "tiny-translator"
WEIGHTS_FILE, TOKENIZER_FILE, METRICS_FILE = "model.safetensors", "tokenizer.json", "metrics.json"
PAD, START, END, UNKNOWN = "<pad>", "<s>", "</s>", "[UNK]"
SPECIALS = (PAD, START, END)
KIND = "word level"


def pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Lexicon words (longest first), runs of Latin letters, runs of digits, then any other single character."""
    words = "|".join(re.escape(w) for w in chinese_words())
    return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(words + r"|[A-Za-z]+|[0-9]+|\S"), behavior="isolated"),
                                    pre_tokenizers.WhitespaceSplit()])


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
