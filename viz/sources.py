"""The five Chinese source articles whose worked examples the presets teach, named in one place.

The pages call them 来源文章 / "source articles" (never "seed": a seed is a random seed), numbered 000–004 as
in docs/worked-examples.md, which lists each article's examples and the page that shows them. A text that
names an article gives its title at the first mention (tests/test_texts.py checks the explanations).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    number: str  # "000" … "004"
    chinese: str  # the title as the article has it; for an untitled article, its first words
    english: str  # an English rendering of the title (or of the first words)
    titled: bool = True

    def title(self, language: str) -> str:
        return self.chinese if language == "zh" else self.english

    def cite(self, language: str) -> str:
        """How a text first names the article: its number and title (in English with the Chinese beside it)."""
        if language == "zh":
            if not self.titled:
                return f"来源文章 {self.number}（无标题，开头是“{self.chinese}”）"
            return f"来源文章 {self.number}《{self.chinese}》"
        if not self.titled:
            return f"source article {self.number} (untitled; it begins “{self.english}”, 《{self.chinese}》)"
        return f"source article {self.number}, “{self.english}” (《{self.chinese}》)"


SOURCES: dict[str, Source] = {
    source.number: source
    for source in (
        Source("000", "以ChatGPT为代表的生成式AI……", "Generative AI, represented by ChatGPT…", titled=False),
        Source("001", "大模型AIGC分享之「走进大模型」篇", "Sharing on large models and AIGC: ‘Into large models’"),
        Source("002", "OpenAI开发系列（二）：大语言模型发展史及Transformer架构详解",
               "OpenAI development series (2): the history of large language models and the Transformer "
               "architecture in detail"),
        Source("003", "【人工智能】第二部分：ChatGPT的架构设计和训练过程",
               "[Artificial intelligence] Part 2: the architecture and training of ChatGPT"),
        Source("004", "ChatGPT基础", "ChatGPT basics"),
    )
}
