"""The source articles' worked examples (docs/worked-examples.md), one click each.

Each preset names the page that teaches it, the text (and model) it loads,
and what the page should make visible. A page whose choices are its controls rather than a text (the
training page's recipe) has presets without a text: their `settings` are the values of its controls, each
under its URL parameter's key, and clicking one leaves the person's text and model as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core import N_
from core.training import live_training as live

from . import catalog, state
from .state import _

NEXT, ATTENDS, TRANSLATES = "next", "attends", "translates"  # the kinds of promise a note makes
SMOLLM2, GEMMA, MINILM, TRANSLATOR = "smollm2-135m", "gemma3-270m", "minilm-l6", "tiny-translator"


@dataclass(frozen=True)
class Expect:
    """A token a preset's note promises, measured with `model`: the model the preset picks where it is installed
    (for a preset that keeps the person's model, the model its note names, else the default one).
    tests/test_preset_promises.py runs the preset's text through that model and checks the promise."""

    model: str
    token: str  # as the tokenizer writes it (" money", with its space); TRANSLATES: the whole translation
    kind: str = NEXT  # NEXT: a next token; ATTENDS: where the best-ranked head of `query` looks; TRANSLATES: the
    # translator's greedy output for the text
    top: int = 1  # NEXT: among the `top` most likely
    absent: bool = False  # NEXT: the note says the token is *not* among the `top` most likely
    after: str | None = None  # NEXT: after this beginning of the text (None: after the whole text)
    query: str | None = None  # ATTENDS: the query token (None: the preset's focus)
    shown: str = ""  # NEXT: its probability as the note prints it, "3.1%", in both languages


@dataclass(frozen=True)
class Preset:
    page: str  # a page id of the catalogue
    label: str  # short, so a row of buttons stays apart on a projector; translated
    text: str | None  # None: the preset leaves the person's text (and model) as they are
    model: str | None = None  # None keeps the model the person has chosen
    note: str = ""  # translated
    focus: str | None = None  # the word the page should open on (the query token of the Attention page)
    language: str | None = None  # the text's language: a trained model that reads it is chosen where installed
    settings: tuple[tuple[str, object], ...] = ()  # (session key, value) for the page's controls: a key of
    # url.URL_PARAMS is a widget bound to the URL (or linked with state.link), so the choice lands in the link
    text2: str | None = None  # a minimal pair: the second text, shown beside the first (compare mode)
    expect: tuple[Expect, ...] = ()  # the tokens its note promises, checked against the model in the tests
    article: bool = False  # a preset without a text that is a source article's example (not a training recipe)


PRESETS: tuple[Preset, ...] = (
    Preset("tokenization", N_("[CLS] input [SEP]"), "This is a input text.", MINILM,
           N_("WordPiece adds [CLS] at the start and [SEP] at the end (source article 000).")),
    Preset("tokenization", N_("AI+编程 扬帆起航"), "AI+编程 扬帆起航", SMOLLM2,
           N_("Byte-level BPE splits Chinese characters into UTF-8 byte pieces (source article 002).")),
    Preset("attention", N_("it … tired"), "The animal didn't cross the street because it was too tired", SMOLLM2,
           focus="it",
           note=N_("Which word does “it” attend to? (source article 002)"),
           expect=(Expect(SMOLLM2, "animal", ATTENDS),)),
    Preset("attention", N_("it … narrow"), "The animal didn't cross the street because it was too narrow", SMOLLM2,
           focus="it",
           note=N_("One word changed: does “it” now look at “street”? (source article 002) Not in a model that reads "
                   "left to right, such as SmolLM2 or Gemma: at “it” it has not read “narrow” yet, so every head "
                   "looks from “it” exactly as in the “tired” sentence, and SmolLM2's best one still points at "
                   "“animal”. Only the rows from “narrow” on differ."),
           expect=(Expect(SMOLLM2, "animal", ATTENDS),)),
    Preset("attention", N_("bank + money"), "Go to the bank to get some money.", MINILM, focus="bank",
           note=N_("The same word “bank” in a money context (source article 001).")),
    Preset("attention", N_("bank + water"), "Go to the bank to get some water.", MINILM, focus="bank",
           note=N_("…and with water (source article 001). MiniLM reads in both directions: its best head for “bank” "
                   "looks at “water”. A model that reads left to right, such as SmolLM2 or Gemma, has not read that "
                   "word yet at “bank”, so there its attention is the same in both sentences."),
           expect=(Expect(MINILM, "water", ATTENDS),)),
    Preset("attention", N_("今天太冷了"), "今天太冷了,能穿多少穿多少", SMOLLM2, language="zh",
           note=N_("One character changes the meaning of the whole sentence (source article 001): a model that reads "
                   "Chinese is chosen where one is installed. Which characters does 多少 look at?")),
    Preset("attention", N_("今天太热了"), "今天太热了,能穿多少穿多少", SMOLLM2, language="zh",
           note=N_("冷 → 热: “wear as much as you can” becomes “as little as you can” (source article 001).")),
    Preset("next_token", N_("highest mountain"), "The highest mountain in the world is", SMOLLM2,
           N_("The model continues the sentence one token at a time (source article 000): SmolLM2 puts “Mount” "
              "first (22%) and “Everest” third (4.9%)."),
           expect=(Expect(SMOLLM2, " Mount", shown="22%"), Expect(SMOLLM2, " Everest", top=3, shown="4.9%"),
                   Expect(SMOLLM2, " Everest", top=2, absent=True))),
    Preset("next_token", N_("世界上最高的山"), "世界上最高的山是", SMOLLM2, language="zh",
           note=N_("The article's own example (source article 000): does 喜马拉雅山 come next? Not in a base model "
                   "this small: after 世界上最高的山是, Gemma 3 270M's most likely token is “：” (3.1%), and 喜, "
                   "the first token of 喜马拉雅山, is not among its 100 most likely. Asked the other way round it "
                   "does better: try 珠穆朗玛峰是…"),
           expect=(Expect(GEMMA, "：", shown="3.1%"), Expect(GEMMA, "喜", top=100, absent=True))),
    Preset("next_token", N_("珠穆朗玛峰是…"), "珠穆朗玛峰是世界上最高的", SMOLLM2, language="zh",
           note=N_("The nearest wording that works (source article 000, asked the other way round): after "
                   "珠穆朗玛峰是世界上最高的, Gemma 3 270M puts 峰 first (41%) and 山 second (13%)."),
           expect=(Expect(GEMMA, "峰", shown="41%"), Expect(GEMMA, "山", top=2, shown="13%"))),
    Preset("next_token", N_("小明、小刚、小红"), "小明、小刚、小红是小强的", SMOLLM2, language="zh",
           note=N_("Pre-training asks for the next token at every position (source article 001). The article's "
                   "answer here is 朋友: Gemma 3 270M puts it only fifth (3.1%), and the four before it fit the "
                   "sentence too. The chart below shows how likely each true next token was."),
           expect=(Expect(GEMMA, "朋友", top=5, shown="3.1%"), Expect(GEMMA, "朋友", top=4, absent=True))),
    Preset("next_token", N_("…是小强的好"), "小明、小刚、小红是小强的好", SMOLLM2, language="zh",
           note=N_("One character more, 好, and the article's answer comes first: after 小明、小刚、小红是小强的好, "
                   "Gemma 3 270M puts 朋友 first (55%)."),
           expect=(Expect(GEMMA, "朋友", shown="55%"),)),
    Preset("next_token", N_("我喜欢吃苹果"), "我喜欢吃苹果", SMOLLM2, language="zh",
           note=N_("After 我喜欢 the article expects 吃 (source article 002): Gemma 3 270M puts it second (5.1%), "
                   "after 看 (9.9%). See its bar in the chart below."),
           expect=(Expect(GEMMA, "吃", top=2, after="我喜欢", shown="5.1%"),
                   Expect(GEMMA, "看", after="我喜欢", shown="9.9%"))),
    Preset("next_token", N_("今天太冷了，能穿多少"), "今天太冷了，能穿多少", SMOLLM2, language="zh",
           note=N_("A model that reads Chinese expects 衣服 (clothes) next (source article 001): Gemma 3 270M puts "
                   "it first (63%)."),
           expect=(Expect(GEMMA, "衣服", shown="63%"),)),
    Preset("next_token", N_("bank … get some"), "Go to the bank to get some", SMOLLM2,
           N_("What comes next: money or water? (source article 001)"), expect=(Expect(SMOLLM2, " money"),)),
    Preset("next_token", N_("在一个寒冷的冬日"), "在一个寒冷的冬日，", SMOLLM2, language="zh",
           note=N_("Sampling gives different continuations; greedy decoding always gives one (source article 002).")),
    Preset("next_token", N_("few-shot sentiment"), "Review: I loved this film. Sentiment: positive\n"
           "Review: The plot was dull and slow. Sentiment: negative\nReview: What a wonderful day! Sentiment:",
           SMOLLM2, N_("In-context learning: the demonstrations steer the next token (source article 004)."),
           expect=(Expect(SMOLLM2, " positive"),)),
    Preset("positional_encoding", N_("PE formula"), "Transformer没有循环结构,因此无法自然地捕捉序列中的位置信息。",
           note=N_("Source article 003's formula with the paper's d_model = 512: the heat map, single dimensions as "
                   "waves, and dot products that depend only on the distance between two positions."),
           settings=((state.PE_D, 512), (state.PE_LEN, 128))),
    Preset("positional_encoding", N_("我爱你 → 你爱我"), "我爱你",
           note=N_("“我爱你” and “你爱我” are the same tokens in another order (source article 001). Without positions an "
                   "encoder gives them the same vectors, only permuted."), settings=((state.ORDER, "reversed"),)),
    Preset("positional_encoding", N_("dog bites man"), "dog bites man",
           note=N_("The same three words, reversed: “man bites dog”. Only the positions tell them apart."),
           settings=((state.ORDER, "reversed"),)),
    Preset("positional_encoding", N_("AI+编程 扬帆起航"), "AI+编程 扬帆起航",
           note=N_("Without positions, “AI+编程 扬帆起航” could as well be “编AI+程,航帆扬起” (source article 002): its tokens "
                   "shuffled give the same bag of vectors."), settings=((state.ORDER, "shuffled"),)),
    Preset("masks", N_("× 0/1 mask"), "I am a student",
           note=N_("Source article 002 multiplies QKᵀ by a 0/1 mask, then takes the softmax: every future token keeps "
                   "e⁰ = 1 of unnormalised weight. Adding −∞ before the softmax gives exactly zero.")),
    Preset("masks", N_("我是一名学生"), "我是一名学生",
           note=N_("Source article 002's decoder example: each token may look only at itself and the tokens "
                   "before it.")),
    Preset("tokenizer_training", N_("AI+编程 扬帆起航"), "AI+编程 扬帆起航", None,
           N_("Watch 编程 become one token as the merges accumulate, while the rarer characters stay in byte pieces "
              "(source article 002).")),
    Preset("embeddings", N_("[CLS] input [SEP]"), "This is a input text.", MINILM,
           N_("After tokenizing, each token becomes a row of the embedding table: [CLS] and [SEP] get vectors too "
              "(source article 000).")),
    Preset("embeddings", N_("monkey / banana / atomic energy"), "monkey\nbanana\natomic energy", None,
           N_("Source article 000: monkey and banana are close, atomic energy and banana far apart. The matrix gives "
              "the sentence model's true cosines.")),
    Preset("embeddings", N_("猴子 / 香蕉 / 原子能"), "猴子\n香蕉\n原子能", None,
           N_("Source article 000's own words in Chinese: the sentence model here was trained on English, and its "
              "vocabulary has no token for some of these characters, so it cannot tell them apart.")),
    Preset("embeddings", N_("bank: money / water / river"),
           "Go to the bank to get some money.\nGo to the bank to get some water.\nWe sat on the river bank.",
           MINILM, N_("The same word in different contexts (source article 001): one row of the embedding table, then "
                      "the layers pull the vectors of “bank” apart."), focus="bank"),
    Preset("attention_math", N_("小红 looks at her friends"), "小明、小刚、小红是小强的朋友", SMOLLM2, language="zh",
           focus="红", note=N_("Source article 001: the query of 小红 against every key, the softmax and the weighted sum "
                              "of the value rows. Step through the worked example, then follow 小红 in a real head."),
           settings=((state.AM_QUERY, 2), (state.AM_CAUSAL, False), (state.AM_STEP, 7))),
    Preset("attention_math", N_("100, 80, 20, 12"), "I am a student",
           note=N_("Source article 002 says softmax turns the row 100, 80, 20, 12 into 0.4, 0.2, 0.2, 0.1. Its true "
                   "softmax is about 1, 2·10⁻⁹, 1.8·10⁻³⁵, 6·10⁻³⁹: see the table under “Why divide by √d_k”."),
           settings=((state.AM_STEP, 4),)),
    Preset("multi_head", N_("it … tired"), "The animal didn't cross the street because it was too tired",
           SMOLLM2, N_("Source article 002: switch off heads that look from “it” to “animal” and watch the prediction "
                       "and the later layers' attention change."),
           expect=(Expect(SMOLLM2, "animal", ATTENDS, query="it"),)),
    Preset("multi_head", N_("it … narrow"), "The animal didn't cross the street because it was too narrow",
           SMOLLM2, N_("One word changed (source article 002): do the same heads matter here?")),
    Preset("token_attribution", N_("小明、小刚、小红"), "小明、小刚、小红是小强的", SMOLLM2, language="zh",
           note=N_("Which earlier characters feed the prediction after 小强的 (source article 001)?")),
    Preset("token_attribution", N_("it … tired"), "The animal didn't cross the street because it was too",
           SMOLLM2, N_("What feeds the word after “too” (source article 002): rollout against removal.")),
    Preset("inside_block", N_("highest mountain"), "The highest mountain in the world is", SMOLLM2,
           N_("Follow “ is” up the layers: the stream's norm grows as each sub-layer adds to it (source article "
              "000).")),
    Preset("inside_block", N_("小明、小刚、小红"), "小明、小刚、小红是小强的", SMOLLM2, language="zh",
           note=N_("Source article 001's sentence in a model that reads Chinese: the same block, other numbers.")),
    Preset("inside_block", N_("ReLU against the others"), "The highest mountain in the world is", "classic",
           N_("The classic Transformer's ReLU sets every negative input to exactly 0; GELU, SwiGLU and GeGLU leave "
              "small values instead. The comparison below runs every installed model on the same text."),
           settings=((state.FF_ALL, True),)),
    Preset("encoder_decoder", N_("我是一名学生"), "我是一名学生", TRANSLATOR,
           N_("Source article 002: the encoder reads 我是一名学生, the decoder starts from `<s>` and writes “I am a "
              "student” one word at a time. Press “Next word” below and watch where each step looks in the source."),
           settings=((state.TARGET, ""), (state.TARGET_FOR, "我是一名学生"), (state.DECODE_STEP, 1)),
           expect=(Expect(TRANSLATOR, "I am a student", TRANSLATES),)),
    Preset("encoder_decoder", N_("我有一只猫"), "我有一只猫", TRANSLATOR,
           N_("Source article 004's sentence: 一只 becomes “a”, and the measure word 只 has no English word of its own."),
           settings=((state.TARGET, ""), (state.TARGET_FOR, "我有一只猫"), (state.DECODE_STEP, 1)),
           expect=(Expect(TRANSLATOR, "I have a cat", TRANSLATES),)),
    Preset("encoder_decoder", N_("明天我在学校看书"), "明天我在学校看书", TRANSLATOR,
           N_("Time and place move to the end in English: the cross-attention map of layer 1, head 2 crosses over "
              "instead of running down the diagonal."),
           settings=((state.TARGET, ""), (state.TARGET_FOR, "明天我在学校看书"), (state.DECODE_STEP, 1),
                     (state.ATTENTION, "cross"), (state.LAYER, 1), (state.HEAD, 2)),
           expect=(Expect(TRANSLATOR, "I read books at school tomorrow", TRANSLATES),)),
    Preset("encoder_decoder", N_("teacher forcing"), "他每天吃两个苹果", TRANSLATOR,
           N_("Source article 002's “Hello, world” → “Bonjour, monde”: in training the decoder reads the true target. "
              "Here the reference drops “two”: teacher forcing reads it as given, free running follows its own words."),
           settings=((state.TARGET, "He eats apples every day"), (state.TARGET_FOR, "他每天吃两个苹果"),
                     (state.DECODE_STEP, 1)),
           expect=(Expect(TRANSLATOR, "He eats two apples every day", TRANSLATES),)),
    Preset("logit_lens", N_("highest mountain"), "The highest mountain in the world is", SMOLLM2,
           N_("At which layer does the model settle on its answer after “is”? (source article 000)"),
           expect=(Expect(SMOLLM2, " Mount"),)),
    Preset("logit_lens", N_("珠穆朗玛峰是…"), "珠穆朗玛峰是世界上最高的", SMOLLM2, language="zh",
           note=N_("Source article 000's question asked the other way round: its own wording, 世界上最高的山是, gets "
                   "only “：” from a model this small (see Next token). After 珠穆朗玛峰是世界上最高的, from which "
                   "layer on does 峰 come first?"),
           expect=(Expect(GEMMA, "峰"),)),
    Preset("logit_lens", N_("小明、小刚、小红"), "小明、小刚、小红是小强的好", SMOLLM2, language="zh",
           note=N_("Source article 001's sentence with 好 added: after 小强的 alone Gemma 3 270M puts 朋友 only "
                   "fifth, after 小强的好 first. From which layer on?"),
           expect=(Expect(GEMMA, "朋友"),)),
    Preset("logit_lens", N_("bank … get some"), "Go to the bank to get some", SMOLLM2,
           N_("money or water: which heads and feed-forward blocks push the answer? (source article 001)"),
           expect=(Expect(SMOLLM2, " money"),)),
)


# Minimal pairs (compare mode): the articles' texts that differ by one word, on each page that compares.
TIRED = "The animal didn't cross the street because it was too tired"
NARROW = "The animal didn't cross the street because it was too narrow"
MONEY, WATER = "I went to the bank to get some money", "I went to the bank to get some water"
PAIR_NOTES = {
    "cold": N_("One character changed: 冷 (cold) against 热 (hot). Which tokens differ, and what moves?"),
    "tired": N_("One word changed (source article 002): tired belongs to the animal, narrow to the street. A model "
                "that reads left to right sees the difference only from that word on."),
    "bank": N_("The same bank, other company (source article 001): money against water."),
    "love": N_("The same three characters in another order: only the positions tell who loves whom."),
}


def _pairs(page: str) -> tuple[Preset, ...]:
    return (
        Preset(page, N_("冷 / 热"), "今天太冷了", None, PAIR_NOTES["cold"], language="zh", text2="今天太热了"),
        Preset(page, N_("tired / narrow"), TIRED, None, PAIR_NOTES["tired"], focus="it", text2=NARROW),
        Preset(page, N_("bank: money / water"), MONEY, None, PAIR_NOTES["bank"], focus="bank", text2=WATER),
        Preset(page, N_("我爱你 / 你爱我"), "我爱你", None, PAIR_NOTES["love"], language="zh", text2="你爱我"),
    )


PAIR_PAGES = ("attention", "next_token", "logit_lens")
PRESETS = PRESETS + tuple(preset for page in PAIR_PAGES for preset in _pairs(page))


def _recipe(task: str, layers: int, d_model: int, heads: int, steps: int, batch: int) -> tuple[tuple[str, object], ...]:
    """The training page's controls for one recipe (each a URL parameter); a character model reads the
    lesson texts."""
    source = ((state.TR_SOURCE, "lesson"),) if task == live.CHARS else ()
    return ((state.TR_TASK, task), (state.TR_LAYERS, layers), (state.TR_D, d_model), (state.TR_HEADS, heads),
            (state.TR_STEPS, steps), (state.TR_BATCH, batch), *source)


# The training page's recipes, each sized (measured with one torch thread on two busy cores) to show its
# pattern well within the job's time limit; they set the controls and leave the text alone.
TRAINING = (
    Preset("training", N_("Copy: the diagonal"), None,
           note=N_("Small and quick: the loss falls within seconds, and the cross-attention becomes the diagonal. To "
                   "write the i-th digit, the decoder reads the i-th digit of the source."),
           settings=_recipe(live.COPY, 1, 32, 2, 300, 32)),
    Preset("training", N_("Reverse: the anti-diagonal"), None,
           note=N_("The same model reversing: its cross-attention runs from the last digit of the source to the "
                   "first, the anti-diagonal."),
           settings=_recipe(live.REVERSE, 1, 32, 2, 500, 32)),
    Preset("training", N_("Translation: the alignment"), None,
           note=N_("The toy Chinese → English sentences, one layer: its cross-attention becomes an alignment. Each "
                   "row looks at the Chinese word it is about to translate, so 明天 (tomorrow), first in Chinese, is "
                   "read last."),
           settings=_recipe(live.TRANSLATE, 1, 64, 4, 300, 32)),
    Preset("training", N_("Characters: the lesson texts"), None,
           note=N_("A tiny GPT reads the app's lesson texts one character at a time: the loss falls from guessing "
                   "to spelling, and it writes text that looks like them."),
           settings=_recipe(live.CHARS, 2, 64, 4, 600, 32)),
)
PRESETS = PRESETS + TRAINING


def _asked(task: str, language: str, k: int, fmt: str = "bare", example: int = 0) -> tuple[tuple[str, object], ...]:
    """The Prompting page's controls for one question (each a URL parameter)."""
    return ((state.PR_TASK, task), (state.PR_LANG, language), (state.PR_SHOTS, k), (state.PR_FORMAT, fmt),
            (state.PR_EXAMPLE, example))


# The Prompting page: article 004's necklace asked as prompt learning (a blank to fill) with 0, 1 and 8
# demonstrations (article 002's zero-, one- and few-shot), then as instruction learning; a capital city.
PROMPTING = (
    Preset("prompting", N_("这个项链太____了"), None, article=True,
           note=N_("Prompt learning, source article 004's own example: 给女朋友买了这个项链，她很喜欢，这个项链太____了。 "
                   "With no demonstration (zero-shot), does the model put 好 (good) or 差 (bad) in the blank? A model "
                   "that reads Chinese, such as Gemma 3, is the one to ask."),
           settings=_asked("sentiment", "zh", 0)),
    Preset("prompting", N_("one-shot"), None, article=True,
           note=N_("One demonstration before the question, GPT-3's one-shot (source article 002): how far does it "
                   "move the probability of the right word?"),
           settings=_asked("sentiment", "zh", 1)),
    Preset("prompting", N_("few-shot: 8 demonstrations"), None, article=True,
           note=N_("Eight demonstrations, four of each label (source article 002's few-shot, in-context learning in "
                   "source article 004). Does the accuracy over the held-out reviews keep rising?"),
           settings=_asked("sentiment", "zh", 8)),
    Preset("prompting", N_("instruction"), None, article=True,
           note=N_("Instruction learning (source article 004): the task is said in the system message of the "
                   "model's chat template, and the review is the user's message. Only an instruct model, such as "
                   "SmolLM2-135M-Instruct, has a template."),
           settings=_asked("sentiment", "en", 0, "chat")),
    Preset("prompting", N_("capital cities"), None, article=True,
           note=N_("A question of facts: the capital of a country, four choices. Do demonstrations teach the model "
                   "facts, or only the form of the answer?"),
           settings=_asked("capitals", "en", 2)),
)
PRESETS = PRESETS + PROMPTING


def for_page(page: str) -> list[Preset]:
    return [p for p in PRESETS if p.page == page]


def apply(preset: Preset) -> None:
    """Load a preset: its text and model, or the values of its controls."""
    if preset.text is not None:
        _load_text(preset)
    for key, value in preset.settings:
        st.session_state[key] = value


def model_for(preset: Preset) -> str | None:
    """The model a preset loads: one trained on its text's language where installed, else its own; None keeps
    the person's model."""
    if preset.language:
        return state.model_for_language(preset.language, catalog.BY_ID[preset.page].needs) or preset.model
    return preset.model


def _load_text(preset: Preset) -> None:
    state.set_text(preset.text)
    state.set_text2(preset.text2)
    model = model_for(preset)
    if model:
        state.set_model(model)
    if preset.focus:
        st.session_state[state.OPEN_BEST] = True


def _chosen(preset: Preset) -> bool:
    """Whether every control of a text-less preset has the preset's value now (the session's, else the link's)."""
    return all(str(st.session_state.get(key, st.query_params.get(key))) == str(value)
               for key, value in preset.settings)


def preset_buttons(page: str) -> Preset | None:
    """A row of preset buttons; returns the preset whose text (or, without a text, whose settings) is loaded
    now, to show its note."""
    presets = for_page(page)
    recipes = any(p.text is None and not p.article for p in presets)
    st.caption(_("Recipes, each sized to show its pattern in time, one click each:") if recipes else
               _("Examples from the source articles, one click each:"))
    row = st.container(horizontal=True)  # wraps onto more lines on a narrow screen; no label is cut
    for index, preset in enumerate(presets):
        row.button(_(preset.label), on_click=apply, args=(preset,), key=f"preset-{page}-{index}",
                   help=preset.text if preset.text is not None else _(preset.note))
    if any(p.text is None for p in presets):
        return next((p for p in presets if p.text is None and _chosen(p)), None)
    current, second = state.text(), state.text2()
    return next((p for p in presets if p.text == current and p.text2 == second),
                next((p for p in presets if p.text == current and p.text2 is None), None))
