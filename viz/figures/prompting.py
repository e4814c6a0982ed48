"""The Prompting page's pictures: a prompt's tokens with each part marked (HTML, so that it wraps on a phone), the
probability of each choice, and the accuracy over the held-out questions against the number of demonstrations.

Token text and labels are escaped here: a token such as `<b>` must show as itself.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..i18n import Translate, identity
from .text import PERCENT_TICKS, plotly_text

# One colour per part of a prompt, and per role of a chat message (a special token is drawn dark in both).
PART_COLOURS = {"instruction": "#c6dbef", "demonstration": "#fdd0a2", "answer": "#fd8d3c", "question": "#a1d99b",
                "template": "#e0e0e0", "special": "#525252"}
ROLE_COLOURS = {"system": "#c6dbef", "user": "#fdd0a2", "assistant": "#a1d99b", None: "#e0e0e0"}
CORRECT_COLOUR, OTHER_COLOUR, BEFORE_COLOUR = "#2ca02c", "#9ecae1", "#636363"
FORMAT_DASHES = ("solid", "dash", "dot")

STYLE = """<style>
.pr-tokens { line-height: 2.3; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.92rem; }
.pr-chip { display: inline-block; margin: 1px 1px; padding: 0 4px; border-radius: 4px; color: #1a1a1a;
  white-space: pre; line-height: 1.5; }
.pr-special { color: #ffffff; font-weight: 700; }
.pr-demo { display: inline; border: 2px solid #e6550d; border-radius: 6px; padding: 2px 2px; margin: 0 1px; }
.pr-tag { display: inline-block; font-size: 0.7rem; color: #a63603; font-family: sans-serif; margin: 0 3px; }
.pr-legend { font-size: 0.85rem; margin: 0.2rem 0 0.6rem 0; font-family: sans-serif; }
.pr-legend .pr-chip { font-family: sans-serif; }
</style>"""


def _chip(label: str, colour: str, special: bool, hover: str) -> str:
    kind = "pr-chip pr-special" if special else "pr-chip"
    chip = (f'<span class="{kind}" style="background:{colour}" title="{html.escape(hover, quote=True)}">'
            f"{html.escape(label)}</span>")
    return chip + ("<br>" if label.endswith("↵") and not special else "")


def prompt_tokens_html(labels: Sequence[str], parts: Sequence[str], demos: Sequence[int | None],
                       roles: Sequence[str | None] | None = None, *, by_role: bool = False,
                       names: Mapping[str, str] | None = None, _: Translate = identity) -> str:
    """A prompt's tokens as chips coloured by part (PART_COLOURS) or, `by_role`, by chat role, each
    demonstration's tokens framed and numbered; a legend of what each colour means above them. `names`: the
    translated name of each part and role. Ready for st.html (every label escaped)."""
    n = len(labels)
    if not (len(parts) == len(demos) == n) or (roles is not None and len(roles) != n):
        raise ValueError("labels, parts, demos and roles need one entry per token")
    roles = [None] * n if roles is None else list(roles)
    names = dict(names or {})
    colours = ROLE_COLOURS if by_role else PART_COLOURS
    body, open_demo = [], None
    for label, part, demo, role in zip(labels, parts, demos, roles):
        if demo != open_demo:
            if open_demo is not None:
                body.append("</span>")
            if demo is not None:
                tag = _("demonstration {number}").format(number=demo + 1)
                body.append(f'<span class="pr-demo"><span class="pr-tag">{html.escape(tag)}</span>')
            open_demo = demo
        special = part == "special"
        colour = PART_COLOURS["special"] if special else colours.get(role if by_role else part, "#e0e0e0")
        hover = " · ".join(names.get(key, str(key)) for key in (part, role) if key is not None)
        body.append(_chip(label, colour, special, hover))
    if open_demo is not None:
        body.append("</span>")
    shown = [key for key in colours if key in (roles if by_role else parts)]
    if by_role and "special" in parts:
        shown.append("special")
    legend = " ".join(_chip(names.get(str(key), str(key)), colours.get(key, PART_COLOURS["special"]),
                            key == "special", "") for key in shown)
    return f'{STYLE}<div class="pr-legend">{legend}</div><div class="pr-tokens">{"".join(body)}</div>'


def make_choice_figure(words: Sequence[str], probs, correct: int, before=None, *, title: str = "",
                       before_name: str = "", _: Translate = identity) -> go.Figure:
    """Horizontal bars: P(each choice), the correct one in green; `before`, the same with another prompt (zero
    demonstrations), as outlined bars beside them."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (len(words),) or not 0 <= correct < len(words):
        raise ValueError("one probability per word, and the correct one among them")
    labels = [plotly_text(word) + (" ✓" if i == correct else "") for i, word in enumerate(words)]
    colours = [CORRECT_COLOUR if i == correct else OTHER_COLOUR for i in range(len(words))]
    fig = go.Figure(go.Bar(x=probs, y=labels, orientation="h", marker_color=colours, name=_("this prompt"),
                           text=[f"{p:.1%}" for p in probs], textposition="outside",
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    if before is not None:
        before = np.asarray(before, dtype=np.float64)
        if before.shape != probs.shape:
            raise ValueError("`before` needs one probability per word")
        fig.add_bar(x=before, y=labels, orientation="h", name=plotly_text(before_name or _("before")),
                    marker=dict(color="rgba(0,0,0,0)", line=dict(color=BEFORE_COLOUR, width=2)),
                    hovertemplate="%{y}: %{x:.2%}<extra>" + plotly_text(before_name) + "</extra>")
    fig.update_layout(title=plotly_text(title), barmode="group", height=170 + 48 * len(words),
                      margin=dict(l=10, r=40, t=90, b=40),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),  # over the bars:
                      # below, on a phone, it met the axis' title
                      yaxis=dict(autorange="reversed"),
                      xaxis=dict(range=[0, 1.25], tickvals=[0, 0.25, 0.5, 0.75, 1], title=_("probability among the choices"),
                                 **PERCENT_TICKS))  # room past 100 % for the bars' labels, no tick there
    return fig


def make_shot_accuracy_figure(shots: Sequence[int], accuracies: Mapping[str, Sequence[float]], chance: float, *,
                              title: str = "", subtitle: str = "", _: Translate = identity) -> go.Figure:
    """Accuracy on the held-out questions against the number of demonstrations, one line per format, and the
    accuracy of guessing as a dashed line."""
    if not accuracies:
        raise ValueError("nothing to draw: no format measured")
    fig = go.Figure()
    positions = list(range(len(shots)))  # k = 0, 1, 2, 4, 8 evenly spaced
    for (name, values), dash in zip(accuracies.items(), FORMAT_DASHES):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (len(shots),):
            raise ValueError(f"{name}: one accuracy per k")
        fig.add_scatter(x=positions, y=values, mode="lines+markers+text", name=plotly_text(name),
                        line=dict(dash=dash, width=3), marker=dict(size=10), text=[f"{v:.0%}" for v in values],
                        textposition="top center", hovertemplate="k = %{customdata}: %{y:.1%}<extra></extra>",
                        customdata=list(shots))
    fig.add_hline(y=chance, line=dict(color=BEFORE_COLOUR, dash="dot"),
                  annotation_text=plotly_text(_("guessing: {share:.0%}").format(share=chance)),
                  annotation_position="bottom right")
    fig.update_layout(title=dict(text=plotly_text(title), subtitle=dict(text=plotly_text(subtitle))), height=400,
                      margin=dict(l=10, r=10, t=80, b=50),
                      legend=dict(orientation="h", y=-0.2),
                      xaxis=dict(tickvals=positions, ticktext=[str(k) for k in shots],
                                 title=_("demonstrations in the prompt (k)")),
                      yaxis=dict(range=[0, 1.1], title=_("accuracy on the held-out questions"), **PERCENT_TICKS))
    return fig
