"""The pages, as data: the navigation, the Overview's links, the lesson order and the tests read this.

A page is one entry: its id (the URL path, the same in every language), its script,
its title and section (English, translated through the catalogues), an icon, what
it needs of a model, whether what it shows means anything only in a trained model,
and a one-line summary. Presets live in `viz.presets`, keyed
by page id. The order of PAGES is the order of the lesson.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core import N_, Capability

PAGES_DIR = Path(__file__).parent / "pages"


@dataclass(frozen=True)
class PageEntry:
    id: str
    title: str
    icon: str
    section: str
    summary: str
    needs: Capability | None = None  # None: any model will do
    learned: bool = False  # its numbers mean something only in a trained model: the frame warns of an untrained one

    @property
    def script(self) -> str:
        return f"viz/pages/{self.id}.py"

    @property
    def path(self) -> Path:
        return PAGES_DIR / f"{self.id}.py"


START, INSIDE = N_("Start"), N_("Inside the model")
ASSISTANT = N_("From model to assistant")

PAGES: tuple[PageEntry, ...] = (
    PageEntry("overview", N_("Overview"), "🗺️", START,
              N_("The whole model as one pipeline, with its real sizes, beside GPT-1")),
    PageEntry("tokenization", N_("Tokenization"), "🔤", INSIDE,
              N_("Text → tokens: WordPiece and byte-level BPE side by side")),
    PageEntry("tokenizer_training", N_("How a tokenizer is learned"), "🧩", INSIDE,
              N_("Byte-pair encoding trained before your eyes: the most frequent pair merged, again and again")),
    PageEntry("embeddings", N_("Embeddings"), "🧭", INSIDE,
              N_("Tokens → vectors: lengths, nearest tokens, cosine similarity, and how context moves a word"),
              learned=True),
    PageEntry("positional_encoding", N_("Positional encoding"), "📍", INSIDE,
              N_("Where word order comes from: sinusoids, a learned table, rotations, and a model run without them")),
    PageEntry("attention_math", N_("Self-attention step by step"), "🧮", INSIDE,
              N_("X → Q, K, V → Q Kᵀ → ÷ √d_k → mask → softmax → × V, on small numbers and on a real head"),
              learned=True),
    PageEntry("attention", N_("Attention"), "👀", INSIDE,
              N_("Where each token looks, layer by layer and head by head"), learned=True),
    PageEntry("masks", N_("Masks"), "🎭", INSIDE,
              N_("Causal and padding masks, encoder against decoder, and why −∞ is added, not multiplied")),
    PageEntry("multi_head", N_("Multi-head attention and switching heads off"), "🧠", INSIDE,
              N_("Heads side by side, their concatenation through W_O, and what changes when some are switched off"),
              learned=True),
    PageEntry("head_finder", N_("Head finder: what each head does"), "🔬", INSIDE,
              N_("Every head measured on a fixed corpus (previous-token, induction, sink heads), and in-context "
                 "learning watched: a repeated sequence, and the induction heads switched off"),
              needs=Capability.NEXT_TOKEN, learned=True),
    PageEntry("inside_block", N_("Inside a block: residual stream, add & norm, feed-forward"), "🧱", INSIDE,
              N_("What each sub-layer adds to the residual stream, a vector before and after its norm, and the "
                 "feed-forward's hidden units"), learned=True),
    PageEntry("logit_lens", N_("Layer by layer (logit lens)"), "🔭", INSIDE,
              N_("The prediction read at every layer, the layer where it is decided, and which heads and "
                 "feed-forward blocks wrote it"), needs=Capability.NEXT_TOKEN, learned=True),
    PageEntry("next_token", N_("Next token"), "🎲", INSIDE,
              N_("Linear → softmax → the next token, and generation one token at a time"),
              needs=Capability.NEXT_TOKEN, learned=True),
    PageEntry("prompting", N_("Prompting: zero-, one- and few-shot, instructions"), "💬", ASSISTANT,
              N_("The same question asked with 0 to 8 demonstrations, as a bare prompt and as an instruction in the "
                 "chat template: the label's probability and the accuracy over a held-out set"),
              needs=Capability.NEXT_TOKEN, learned=True),
    PageEntry("token_attribution", N_("Which earlier tokens mattered"), "🔍", INSIDE,
              N_("Attention rollout beside removing one token at a time: what fed a prediction"),
              needs=Capability.NEXT_TOKEN, learned=True),
    PageEntry("encoder_decoder", N_("Encoder–decoder and cross-attention"), "🔁", INSIDE,
              N_("A translator reads 我是一名学生 and writes “I am a student” word by word: cross-attention, decoding "
                 "from `<s>`, teacher forcing"), needs=Capability.CROSS_ATTENTION, learned=True),
    PageEntry("training", N_("Watch a Transformer learn"), "🏋️", N_("Learning"),
              N_("A small Transformer trained from scratch before your eyes: the loss falls and the attention "
                 "pattern forms")),
    PageEntry("emergence", N_("Emergence"), "🧬", N_("Beyond the model"),
              N_("Conway's Game of Life: four simple rules, many cells, and patterns that none of the rules describes")),
)

BY_ID = {page.id: page for page in PAGES}


def sections() -> dict[str, list[PageEntry]]:
    """Pages grouped by section, both in catalogue order."""
    grouped: dict[str, list[PageEntry]] = {}
    for page in PAGES:
        grouped.setdefault(page.section, []).append(page)
    return grouped


# The lesson path: every page, in the order the source articles teach, as page ids. The frame draws
# previous/next on every stop, with a "what to notice" paragraph (viz/explanations/notice_<id>.<lang>.md).
LESSON_PATH: tuple[str, ...] = (
    "overview", "tokenization", "tokenizer_training", "embeddings", "positional_encoding", "attention_math",
    "attention", "masks", "multi_head", "head_finder", "inside_block", "logit_lens", "next_token", "prompting",
    "token_attribution", "encoder_decoder", "training", "emergence",
)


def lesson() -> tuple[PageEntry, ...]:
    """The stops of the lesson path, in lesson order (an id with no page in PAGES is left off)."""
    return tuple(BY_ID[page_id] for page_id in LESSON_PATH if page_id in BY_ID)


def lesson_neighbours(page_id: str) -> tuple[PageEntry | None, PageEntry | None]:
    """(previous, next) stop around `page_id` on the lesson path; (None, None) off the path."""
    stops = lesson()
    ids = [stop.id for stop in stops]
    if page_id not in ids:
        return None, None
    at = ids.index(page_id)
    return (stops[at - 1] if at > 0 else None), (stops[at + 1] if at + 1 < len(stops) else None)
