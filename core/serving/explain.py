"""Why did the model say that? Attributions for one prediction, with captum, and a check that they mean it.

Text: Layer Integrated Gradients over the word embeddings (baseline: the same sentence with every word
token replaced by padding), token scores summed into words. Image: Occlusion — fill one patch of a coarse grid
at a time with its own average colour and see how much the predicted class's probability drops; the grid is
drawn over the photo as a heatmap. Its average colour, not grey: greying a plain black background changes it and
credits the background; a plain patch filled with its own colour stays as it was.
Both are kept short (few steps, one batched pass) so an explanation takes about a second on a laptop CPU.

The deletion check: delete the top fifth of what the explanation marks as evidence for the class (its strongest
words, or its strongest grid cells, filled with their average colour) and predict again. An explanation is shown only when that lowers
the class's probability; otherwise the page says the check failed. On 30 SMS test messages the padding baseline
agreed in sign with deleting each top word alone 66 times in 83 (the [MASK] token as baseline: 43 in 78).
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from core.models.base import logits_of
from core.models.image_inputs import eval_tensor, load_working_image

TEXT_STEPS = 16  # integration steps; 16 keeps the completeness error small on short texts, 50 is captum's default
IMAGE_GRID = 7  # occlusion patches per side (7 x 7 = 49 forward passes, batched)
TOP_SHARE = 0.2  # the deletion check removes this share of the evidence (at least one word or cell)
# ... and the class's log-odds must fall by at least this much for the explanation to be shown. Log-odds, not the
# probability: 99.99% -> 99.9% is a real fall (odds ten times lower) that a probability difference would miss.
MIN_LOG_ODDS_DROP = 0.1


@dataclass(frozen=True)
class DeletionCheck:
    before: float  # P(class) of the input as it is
    after: float  # with the strongest evidence deleted
    deleted: str  # what was deleted, in words

    @property
    def passed(self) -> bool:
        def log_odds(p: float) -> float:
            p = min(max(p, 1e-7), 1 - 1e-7)
            return float(np.log(p / (1 - p)))
        return log_odds(self.before) - log_odds(self.after) >= MIN_LOG_ODDS_DROP


@dataclass
class WordScore:
    word: str
    score: float  # share of the largest absolute word score: +1 pushed hardest towards the class, -1 against


@dataclass
class TextExplanation:
    target: str  # the class explained
    words: list[WordScore]
    seconds: float
    check: DeletionCheck | None = None


@dataclass
class ImageExplanation:
    target: str
    heatmap: np.ndarray  # (IMAGE_GRID, IMAGE_GRID): drop in P(target) with that patch flattened, scaled to max 1
    overlay: Image.Image  # the photo with the heatmap drawn over it
    seconds: float
    check: DeletionCheck | None = None


# --- Text ---------------------------------------------------------------------------------------------


def explain_text(model: torch.nn.Module, tokenizer, text: str, target_index: int, target: str, max_length: int,
                 steps: int = TEXT_STEPS) -> TextExplanation:
    """Word attributions for `target_index` of a Hugging Face sequence classifier (PEFT-wrapped ones too)."""
    from captum.attr import LayerIntegratedGradients

    start = time.perf_counter()
    encoded = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt", return_offsets_mapping=True)
    input_ids, attention_mask = encoded["input_ids"], encoded["attention_mask"]  # (1, T)
    # Keep the special tokens ([CLS], [SEP]) in the baseline, so only the words themselves are attributed.
    special = torch.tensor(tokenizer.get_special_tokens_mask(input_ids[0].tolist(), already_has_special_tokens=True),
                           dtype=torch.bool).unsqueeze(0)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    baseline = torch.where(special, input_ids, torch.full_like(input_ids, pad_id))
    device = next(model.parameters()).device  # a GPU when the run's model sits on one
    input_ids, attention_mask, baseline = input_ids.to(device), attention_mask.to(device), baseline.to(device)

    def probabilities(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, C)
        return torch.softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)

    was_training = model.training
    model.eval()
    try:
        attributions = LayerIntegratedGradients(probabilities, model.get_input_embeddings()).attribute(
            input_ids, baselines=baseline, target=target_index, additional_forward_args=(attention_mask,),
            n_steps=steps, internal_batch_size=steps)
    finally:
        model.train(was_training)
    token_scores = attributions.sum(dim=-1)[0].detach().float().cpu().numpy()  # (T,): one score per token
    words = merge_into_words(text, encoded["offset_mapping"][0].tolist(), token_scores)

    def probability(of_text: str) -> float:
        again = tokenizer(of_text, truncation=True, max_length=max_length, return_tensors="pt").to(device)
        with torch.no_grad():
            return float(probabilities(again["input_ids"], again["attention_mask"])[0, target_index])

    return TextExplanation(target, words, time.perf_counter() - start, text_deletion_check(text, words, probability))


def text_deletion_check(text: str, words: list[WordScore], probability: Callable[[str], float]) -> DeletionCheck:
    """Delete the strongest words for the class (TOP_SHARE of the words, only those scored for it) and predict
    the rest again. probability(text) -> P(class)."""
    for_class = [i for i in np.argsort([-w.score for w in words], kind="stable") if words[i].score > 0]
    top = set(for_class[:max(1, round(TOP_SHARE * len(words)))])
    before = probability(text)
    if not top:
        return DeletionCheck(before, before, "nothing: no word counted for the class")
    after = probability(" ".join(w.word for i, w in enumerate(words) if i not in top))
    return DeletionCheck(before, after, ", ".join(f"“{words[i].word}”" for i in sorted(top)))


def merge_into_words(text: str, offsets: list[tuple[int, int]], token_scores: np.ndarray) -> list[WordScore]:
    """Sum token scores into the whitespace-separated words of `text` ("You've", "0800-123" stay whole).

    offsets: (start, end) character span of each token; special tokens have an empty span and are dropped.
    """
    groups: list[list[float]] = []  # [start, end, score sum] per word
    for (begin, end), score in zip(offsets, token_scores):
        if end <= begin:
            continue
        if groups and begin <= groups[-1][1]:  # touches the previous token: the same word
            groups[-1][1], groups[-1][2] = end, groups[-1][2] + float(score)
        else:
            groups.append([begin, end, float(score)])
    scale = max((abs(g[2]) for g in groups), default=0.0) or 1.0
    return [WordScore(text[int(g[0]):int(g[1])], g[2] / scale) for g in groups]


def highlighted_html(words: list[WordScore]) -> str:
    """The words as HTML spans: green for evidence for the class, red against, stronger colour = more weight."""
    parts = []
    for item in words:
        color = "46,125,50" if item.score >= 0 else "198,40,40"
        alpha = min(1.0, abs(item.score)) * 0.75
        parts.append(f'<span title="{item.score:+.2f}" style="background: rgba({color},{alpha:.2f}); '
                     f'padding: 1px 3px; border-radius: 3px; line-height: 1.9">{html.escape(item.word)}</span>')
    return " ".join(parts)


# --- Images -------------------------------------------------------------------------------------------


def explain_image(forward: Callable[[torch.Tensor], torch.Tensor], pixels: torch.Tensor, image: Image.Image,
                  target_index: int, target: str, grid: int = IMAGE_GRID) -> ImageExplanation:
    """Occlusion map of `target_index` for one image.

    forward: pixels (B, 3, H, W) -> logits (B, C). pixels: the preprocessed image, (1, 3, H, W); an occluded
    patch is filled with its own average colour (blurred_copy). image: the photo the overlay is drawn on (any size).
    """
    from captum.attr import Occlusion

    start = time.perf_counter()
    height, width = pixels.shape[-2:]
    window = (3, max(1, height // grid), max(1, width // grid))
    blurred = blurred_copy(pixels, window[1:])

    def probabilities(batch: torch.Tensor) -> torch.Tensor:
        return torch.softmax(forward(batch), dim=-1)

    with torch.no_grad():
        attributions = Occlusion(probabilities).attribute(
            pixels, sliding_window_shapes=window, strides=window, baselines=blurred, target=target_index,
            perturbations_per_eval=16)  # (1, 3, H, W): each patch's pixels carry that patch's probability drop
    per_pixel = attributions[0, 0].numpy()  # (H, W)
    # Average into grid x grid cells (a few edge pixels no window reached count as 0).
    heatmap = np.array([[cell.mean() for cell in np.array_split(band, grid, axis=1)]
                        for band in np.array_split(per_pixel, grid, axis=0)], dtype=float)
    peak = float(np.abs(heatmap).max()) or 1.0
    heatmap = heatmap / peak
    check = image_deletion_check(heatmap, pixels, blurred, lambda batch: float(probabilities(batch)[0, target_index]))
    return ImageExplanation(target, heatmap, heatmap_overlay(image, heatmap), time.perf_counter() - start, check)


def blurred_copy(pixels: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """(1, 3, H, W) -> each occlusion cell (`window` = its height and width) filled with its own average colour:
    shapes gone, colours kept, and nothing leaks from one cell into the next (a plain cell stays exactly as it
    was). Pixels past the last whole cell keep their values."""
    cells = torch.nn.functional.avg_pool2d(pixels, window, stride=window)  # (1, 3, H // h, W // w)
    filled = cells.repeat_interleave(window[0], dim=-2).repeat_interleave(window[1], dim=-1)
    blurred = pixels.clone()
    blurred[..., :filled.shape[-2], :filled.shape[-1]] = filled
    return blurred


def image_deletion_check(heatmap: np.ndarray, pixels: torch.Tensor, blurred: torch.Tensor,
                         probability: Callable[[torch.Tensor], float]) -> DeletionCheck:
    """Flatten the strongest cells for the class (TOP_SHARE of the grid, only those scored for it) and predict again."""
    grid = heatmap.shape[0]
    order = [int(i) for i in np.argsort(-heatmap, axis=None, kind="stable") if heatmap.flat[i] > 0]
    top = order[:max(1, round(TOP_SHARE * heatmap.size))]
    with torch.no_grad():
        before = probability(pixels)
        if not top:
            return DeletionCheck(before, before, "nothing: no region counted for the class")
        masked = pixels.clone()
        height, width = pixels.shape[-2] // grid, pixels.shape[-1] // grid  # the occlusion's cells
        for cell in top:
            rows = slice(cell // grid * height, (cell // grid + 1) * height)
            columns = slice(cell % grid * width, (cell % grid + 1) * width)
            masked[..., rows, columns] = blurred[..., rows, columns]
        return DeletionCheck(before, probability(masked), f"{len(top)} of the {heatmap.size} regions, each filled with its average colour")


def heatmap_overlay(image: Image.Image, heatmap: np.ndarray, opacity: float = 0.6) -> Image.Image:
    """The photo with the positive part of `heatmap` (values up to 1) blended in red over it."""
    base = image.convert("RGB")
    strength = np.clip(heatmap, 0.0, 1.0)
    mask = Image.fromarray((strength * 255).astype(np.uint8)).resize(base.size, Image.BILINEAR)  # 2-D uint8 = "L"
    alpha = Image.fromarray((np.asarray(mask, dtype=float) * opacity).astype(np.uint8))
    red = Image.new("RGB", base.size, (220, 30, 30))
    return Image.composite(red, base, alpha)


# --- A loaded run -------------------------------------------------------------------------------------


def explain_prediction(predictor, item, target: str) -> TextExplanation | ImageExplanation:
    """Explain why `predictor` (a core.serving.inference.Predictor) gives `item` (a text, or a PIL image / path) class `target`."""
    target_index = predictor.labels.index(target)
    device = predictor.setup.device
    if predictor.task == "text":
        return explain_text(predictor.model, predictor.tokenizer, str(item), target_index, target,
                            predictor.max_length or 128)
    settings = predictor.image
    pixels = eval_tensor(load_working_image(item, settings), settings).unsqueeze(0)  # (1, 3, S, S), normalised
    # The overlay is drawn on exactly what the model saw: the crop, un-normalised back to RGB.
    mean, std = torch.tensor(settings.mean).view(3, 1, 1), torch.tensor(settings.std).view(3, 1, 1)
    seen = ((pixels[0] * std + mean).clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()  # (S, S, 3)

    def forward(batch: torch.Tensor) -> torch.Tensor:
        return logits_of(predictor.model(pixel_values=batch.to(device))).float().cpu()

    return explain_image(forward, pixels, Image.fromarray(seen), target_index, target)

