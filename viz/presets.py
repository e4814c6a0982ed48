"""The seed articles' worked examples (shared/seed-examples.md), one click each.

Each preset names the page that teaches it, the text (and model) it loads,
and what the page should make visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from . import state


@dataclass(frozen=True)
class Preset:
    page: str
    label: str  # English / 中文
    text: str
    model: str | None = None  # None keeps the model the person has chosen
    note: str = ""


PRESETS: tuple[Preset, ...] = (
    Preset("tokenization", "This is a input text. / 输入文本", "This is a input text.", "minilm-l6",
           "WordPiece adds [CLS] at the start and [SEP] at the end (seed 000)."),
    Preset("tokenization", "AI+编程 扬帆起航", "AI+编程 扬帆起航", "smollm2-135m",
           "Byte-level BPE splits Chinese characters into UTF-8 byte pieces (seed 002)."),
    Preset("attention", "…too tired / 太累了", "The animal didn't cross the street because it was too tired",
           note="Which word does “it” attend to? (seed 002)"),
    Preset("attention", "…too narrow / 太窄了", "The animal didn't cross the street because it was too narrow",
           note="One word changed: does “it” now look at “street”? (seed 002)"),
    Preset("attention", "bank + money / 银行", "Go to the bank to get some money.",
           note="The same word “bank” in a money context (seed 001)."),
    Preset("attention", "bank + water / 河岸", "Go to the bank to get some water.",
           note="…and in a river context (seed 001)."),
    Preset("attention", "今天太冷了", "今天太冷了,能穿多少穿多少", "smollm2-135m",
           note="One character changes the meaning of the whole sentence (seed 001). SmolLM2 was trained "
                "mostly on English, so its view of Chinese is limited; MiniLM maps most Chinese to [UNK]."),
    Preset("attention", "今天太热了", "今天太热了,能穿多少穿多少", "smollm2-135m",
           note="冷 → 热: “wear as much as you can” becomes “as little as you can” (seed 001)."),
    Preset("next_token", "highest mountain / 最高的山", "The highest mountain in the world is", "smollm2-135m",
           "The model continues the sentence one token at a time (seed 000)."),
    Preset("next_token", "世界上最高的山", "世界上最高的山是", "smollm2-135m",
           "The seed's own example in Chinese (seed 000); a small English-trained model struggles here."),
    Preset("next_token", "bank … get some / 银行", "Go to the bank to get some", "smollm2-135m",
           "What comes next: money or water? (seed 001)"),
    Preset("next_token", "在一个寒冷的冬日,", "在一个寒冷的冬日,", "smollm2-135m",
           "Sampling gives different continuations; greedy decoding always gives one (seed 002)."),
    Preset("next_token", "few-shot sentiment / 少样本", "Review: I loved this film. Sentiment: positive\n"
           "Review: The plot was dull and slow. Sentiment: negative\nReview: What a wonderful day! Sentiment:",
           "smollm2-135m", "In-context learning: the demonstrations steer the next token (seed 004)."),
)


def for_page(page: str) -> list[Preset]:
    return [p for p in PRESETS if p.page == page]


def _apply(preset: Preset) -> None:
    state.set_text(preset.text)
    if preset.model:
        state.set_model(preset.model)


def preset_buttons(page: str) -> Preset | None:
    """A row of preset buttons; returns the preset whose text is loaded now, to show its note."""
    presets = for_page(page)
    columns = st.columns(len(presets))
    for column, preset in zip(columns, presets):
        column.button(preset.label, on_click=_apply, args=(preset,), key=f"preset-{page}-{preset.label}",
                      use_container_width=True)
    current = state.text()
    return next((p for p in presets if p.text == current), None)
