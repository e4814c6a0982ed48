"""Gemma 3 270M's next token: ours (float32, dequantised) against llama.cpp on the same Q4_K_M file.

llama.cpp multiplies the quantised weights directly (activations rounded to 8 bits for the dot
products), so its probabilities differ from ours in the second or third digit; the most likely
next token should still be the same. The prompts are short: the whole module runs in about 20 s.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.runtime.generation import softmax
from tests.support.gemma import gemma_package, gguf_path
from tests.support.models import loaded

pytestmark = pytest.mark.parity

gemma_package()

ENGLISH = [
    "The capital of France is",
    "Once upon a time, there was a",
    "The quick brown fox jumps over the lazy",
    "To be or not to be, that is the",
    "Water boils at 100 degrees",
    "The largest planet in our solar system is",
    "One, two, three, four,",
    "Monday, Tuesday, Wednesday,",
    "The opposite of hot is",
    "Python is a popular programming",
    "def fibonacci(n):\n    if n < 2:\n        return",
    "import numpy as",
    "The Transformer architecture was introduced in the paper Attention Is All You",
    "My favourite colour is",
    "In 1492, Columbus sailed across the Atlantic",
    "The cat sat on the",
    "She opened the door and",
    "Thank you very",
    "The sun rises in the",
    "Machine learning is a branch of artificial",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "Dear Sir or Madam,\n\nI am writing to",
    "A, B, C, D, E,",
    "The chemical symbol for gold is",
    "Breakfast is the most important meal of the",
    "Roses are red, violets are",
    "The Eiffel Tower is located in",
    "January, February, March,",
    "The meaning of life is",
    "Paris is to France as Berlin is to",
]
CHINESE = [
    "今天太冷了，能穿多少",
    "中国的首都是",
    "床前明月光，疑是地上",
    "我爱自然语言",
    "一、二、三、四、",
    "春天来了，花儿都",
    "人工智能是计算机科学的一个",
    "今天天气很好，我们去公园",
    "他每天早上喝一杯",
    "长城是世界上最长的",
    "学而时习之，不亦",
    "北京、上海、广州和",
    "机器学习需要大量的",
    "我的名字叫",
    "谢谢你的",
    "这本书非常",
    "水的化学式是",
    "太阳从东方",
    "星期一、星期二、星期三、",
    "Transformer模型的核心是注意力",
    "<start_of_turn>user\n你好！<end_of_turn>\n<start_of_turn>model\n",
    "白日依山尽，黄河入海",
    "我们明天一起去",
    "中华人民共和国成立于",
    "他打开冰箱，拿出了一瓶",
    "中国有五千年的",
    "熊猫最喜欢吃",
    "上海是中国最大的",
    "一年有十二个",
    "我今天很高兴，因为",
]
PROMPTS = ENGLISH + CHINESE


@pytest.fixture(scope="module")
def ours():
    return loaded("gemma3-270m", "cpu")


@pytest.fixture(scope="module")
def llama():
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(model_path=str(gguf_path()), n_ctx=256, n_threads=2, n_batch=256, verbose=False)


def llama_logits(llama, ids: list[int]) -> np.ndarray:
    """(vocab,) logits after the last token. Without logits_all, Llama.eval keeps no scores of its own:
    read the context's last row (the prompt fits one batch, so it is the last token's)."""
    import llama_cpp

    assert len(ids) <= llama.n_batch
    llama.reset()
    llama.eval(ids)
    row = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
    return np.ctypeslib.as_array(row, shape=(llama.n_vocab(),)).copy()


@pytest.fixture(scope="module")
def predictions(ours, llama):
    """(our logits, llama.cpp's logits) after each prompt, on the same token ids (ours, with <bos>)."""
    out = {}
    for prompt in PROMPTS:
        ids = ours.encode(prompt)[0].ids
        out[prompt] = (ours.next_token_logits(ids), llama_logits(llama, ids))
    return out


def test_prompts_are_varied():
    assert len(PROMPTS) >= 50 and len(set(PROMPTS)) == len(PROMPTS)
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in p) for p in PROMPTS) >= 25


NEAR_TIE = 0.3  # nats: llama.cpp's top token has at least 74% of the probability of ours, in our distribution


def test_top_token_matches_llama_cpp(ours, predictions):
    """The same most likely token after at least 50 prompts; where they differ, the two tokens must be
    close in our distribution. Measured: 58 of 60 agree. The two others are flat distributions decided
    by llama.cpp's 8-bit rounding of the activations: after 他打开冰箱，拿出了一瓶 we give 啤酒 0.0784 and
    冰 0.0779 (0.007 nats apart), after 床前明月光，疑是地上 生 0.023 and ， 0.018 (0.23 nats)."""
    agree, disagreements = 0, {}
    for prompt, (mine, theirs) in predictions.items():
        top, their_top = int(mine.argmax()), int(theirs.argmax())
        if top == their_top:
            agree += 1
        else:
            gap = float(mine[top] - mine[their_top])  # log-probability gap in our distribution
            disagreements[prompt] = (ours.tokenizer.token_text(top), ours.tokenizer.token_text(their_top), gap)
    assert agree >= 50, disagreements
    assert all(gap < NEAR_TIE for *_, gap in disagreements.values()), disagreements


def test_probabilities_close_to_llama_cpp(predictions):
    """Quantised arithmetic moves the top probability by about 0.02 on average (0.14 at worst, after
    学而时习之，不亦: 0.33 here, 0.19 in llama.cpp); transformers, computing in float32 as we do,
    agrees with us to 1e-3 in the logits (tests/test_gemma_parity.py)."""
    shifts = []
    for prompt, (mine, theirs) in predictions.items():
        p_mine, p_theirs = softmax(mine), softmax(theirs)
        top = int(p_mine.argmax())
        shifts.append(abs(p_mine[top] - p_theirs[top]))
        assert shifts[-1] < 0.2, prompt
    assert np.mean(shifts) < 0.05


def test_too_cold_what_to_wear(ours, predictions):
    """The source article's example: after 今天太冷了，能穿多少 ("so cold today, how much can I wear")
    the model expects 衣服 ("clothes"), at about 0.63 here (llama.cpp about 0.65)."""
    mine, theirs = predictions["今天太冷了，能穿多少"]
    probs = softmax(mine)
    top = int(probs.argmax())
    assert ours.tokenizer.token_text(top) == "衣服"
    assert probs[top] > 0.4 and softmax(theirs)[top] > 0.4
    assert round(float(probs[top]), 2) == 0.63  # as the README prints it
