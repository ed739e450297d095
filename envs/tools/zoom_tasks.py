"""A synthetic image task family whose answer needs a zoom: count small dots inside a small box.

:class:`ZoomCount` draws, on a light noisy ``N x N`` background (``N = image_size``, 512 by
default) with a few large pastel or coloured distractor shapes, one small box outlined in pure
black and inside it 1..``max_dots`` small dots of a named target colour (red, green or blue) plus
0-2 dots of another of those colours. At a 4x shrink (512 -> 128 view) the dots blur into the
background and cannot be counted; cropping the box makes them large and separate. (With a view of
half the image size or more, counting without a zoom works: keep ``view_size <= image_size / 4``.)

Image rules (at ``N = 512``; sizes scale with ``N / 512`` where noted, never below the 512 values):
    * Background: a per-seed light colour (each channel 212..240) plus Gaussian noise (sigma 5),
      clipped to ``[170, 255]`` (the same noise on shapes and dots, clipped to ``[1, 255]``).
    * Distractors: up to 3..6 filled circles, rectangles and triangles (radius 25..60 px, scaled),
      of pastel colours or the dot colours, kept at least 16 px (scaled) from the box and from each
      other (so no blur mixes two of them into a dark gray).
    * The box: side 40..64 px (scaled), a 2 px (scaled) pure black ``(0, 0, 0)`` outline at a random
      position at least 8 px from the image edge. Nothing else in the image is pure black, or even
      dark gray.
    * Dots: discs of radius 2 or 3 px (scaled), at least 3 px (scaled) of background between any
      two dots and between a dot and the outline's inner edge.

Question: ``"How many red dots are inside the small box outlined in black? The image is 512x512
pixels; the view you see is shrunk, so zoom in with a tool first. Answer with a number."``.
Answer: the count as digits. Verifier: 1.0 iff the answer, stripped of spaces and outer
punctuation, is an ASCII integer equal to the count (``"3"``, ``" 3."``), else 0.0.
Meta: ``{"bbox": [x0, y0, x1, y1] (the box's outer edge, x1/y1 exclusive), "count": n, "color":
name, "distractor_dots": k}``.

The scripted expert (:meth:`ZoomCount.expert`) sees only what a model sees: it finds the dark
outline in the view, maps it to original pixels, crops it with ``crop_image``, then counts the
target-coloured blobs inside the outline in the enlarged view (:func:`count_dots_in_box`).
"""

from __future__ import annotations

import math
import re

import numpy as np
from embodied_rl.envs.tools.base import ExpertTurn, Task, TaskSource, normalize_answer
from embodied_rl.envs.tools.image import fit_view_geometry
from PIL import Image, ImageDraw
from scipy import ndimage

__all__ = ["DOT_COLORS", "ZoomCount", "count_dots_in_box", "find_outline"]

DOT_COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 230),
}
"""Target/distractor dot colours by the name used in the question."""

_PASTELS: tuple[tuple[int, int, int], ...] = (
    (255, 170, 80),
    (150, 200, 255),
    (200, 150, 230),
    (150, 220, 150),
    (250, 220, 100),
    (240, 140, 160),
    (120, 220, 220),
)

_DARK_MARGIN = 40
"""A pixel is "dark" when its brightest channel is this far below the background's median."""
_DARK_SPREAD = 40
"""... and its channels differ by less than this (gray, not a saturated colour)."""
_COLOR_DISTANCE = 90.0
"""A pixel belongs to a dot colour when its RGB distance to it is below this ..."""
_COLOR_SPREAD = 60
"""... and its channels spread at least this much (saturated, not a gray blend of the outline)."""

_SIZE_RE = re.compile(r"(\d+)\s*x\s*(\d+)\s*pixels")
_COLOR_RE = re.compile(r"how many (\w+) dots", re.IGNORECASE)
_RESULT_SIZE_RE = re.compile(r"\((\d+) x (\d+) px\)")
_INT_RE = re.compile(r"[+-]?[0-9]+")


def find_outline(
    view: np.ndarray, content: tuple[int, int, int, int] | None = None
) -> tuple[int, int, int, int] | None:
    """The bounding box of the dark (black-outline) pixels of ``view``.

    Dark means: brightest channel more than 40 below the median brightest channel of the region
    (the background) and channels within 40 of each other (gray). Only the ``content`` region
    ``(x0, y0, x1, y1)`` of the view is searched (default: all of it), so :func:`fit_view`'s
    mid-gray padding is never taken for the outline. The outline is the largest 8-connected
    component of dark pixels.

    Returns:
        ``(x0, y0, x1, y1)``: that component's bounding box in view pixels, x1/y1 exclusive, or None
        when nothing is dark.
    """
    x0, y0, x1, y1 = content if content is not None else (0, 0, view.shape[1], view.shape[0])
    region = view[y0:y1, x0:x1].astype(np.int16)
    if region.size == 0:
        return None
    top = region.max(axis=2)
    spread = top - region.min(axis=2)
    dark = (top < np.median(top) - _DARK_MARGIN) & (spread < _DARK_SPREAD)
    labels, n = ndimage.label(dark, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    rows, cols = np.nonzero(labels == int(np.argmax(sizes)) + 1)
    return x0 + int(cols.min()), y0 + int(rows.min()), x0 + int(cols.max()) + 1, y0 + int(rows.max()) + 1


def count_dots_in_box(view: np.ndarray, color: str, content: tuple[int, int, int, int] | None = None) -> int:
    """Counts blobs of dot colour ``color`` inside the black outline found in ``view``.

    The outline is located with :func:`find_outline` (within ``content``); pixels inside its
    bounding box within RGB distance 90 of ``DOT_COLORS[color]`` and with channels spread at least
    60 apart (saturated: the gray blur of the outline never counts) are labelled into 8-connected
    components with ``scipy.ndimage.label``; the number of components is returned (0 when no
    outline is found).

    Raises:
        ValueError: If ``color`` is not a key of :data:`DOT_COLORS`.
    """
    if color not in DOT_COLORS:
        raise ValueError(f"unknown dot colour {color!r}; expected one of {sorted(DOT_COLORS)}")
    box = find_outline(view, content)
    if box is None:
        return 0
    x0, y0, x1, y1 = box
    region = view[y0:y1, x0:x1].astype(np.float32)
    distance = np.linalg.norm(region - np.asarray(DOT_COLORS[color], np.float32), axis=2)
    spread = region.max(axis=2) - region.min(axis=2)
    member = (distance < _COLOR_DISTANCE) & (spread >= _COLOR_SPREAD)
    _, n = ndimage.label(member, structure=np.ones((3, 3), dtype=bool))
    return int(n)


def _disc(image: np.ndarray, cx: int, cy: int, r: int, color: tuple[int, int, int]) -> None:
    """Paints the pixels with ``(x - cx)^2 + (y - cy)^2 <= r^2``."""
    ys, xs = np.ogrid[cy - r : cy + r + 1, cx - r : cx + r + 1]
    mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    image[cy - r : cy + r + 1, cx - r : cx + r + 1][mask] = color


class ZoomCount(TaskSource):
    """Count the target-coloured dots inside a small black-outlined box (see the module docstring).

    Args:
        image_size: Side ``N`` of the square task image, >= 256.
        view_size: Side of the view the task is designed for (the env's view), ``< image_size``.
        max_dots: Most target dots, 1..8.
    """

    tools = ("crop_image", "zoom_image")

    def __init__(self, image_size: int = 512, view_size: int = 128, max_dots: int = 6) -> None:
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 256:
            raise ValueError(f"image_size must be an int >= 256, got {image_size!r}")
        if isinstance(view_size, bool) or not isinstance(view_size, int) or not 1 <= view_size < image_size:
            raise ValueError(f"view_size must be an int in [1, image_size), got {view_size!r}")
        if isinstance(max_dots, bool) or not isinstance(max_dots, int) or not 1 <= max_dots <= 8:
            raise ValueError(f"max_dots must be an int in [1, 8], got {max_dots!r}")
        self.size = image_size
        self.view_size = view_size
        self.max_dots = max_dots
        self.image_size = (image_size, image_size)
        self._k = max(1.0, image_size / 512)

    def _px(self, value: float) -> int:
        """A length given at 512 px, scaled to this image size (never below the 512 value)."""
        return max(1, round(value * self._k))

    def _place_dots(
        self, rng: np.random.Generator, inner: tuple[int, int, int, int], radii: list[int]
    ) -> list[tuple[int, int, int]] | None:
        """Random non-overlapping dot centres ``(cx, cy, r)`` inside ``inner``; None if they do not fit."""
        gap = self._px(3)
        x0, y0, x1, y1 = inner
        placed: list[tuple[int, int, int]] = []
        for r in radii:
            lo_x, hi_x = x0 + gap + r, x1 - 1 - gap - r
            lo_y, hi_y = y0 + gap + r, y1 - 1 - gap - r
            if lo_x > hi_x or lo_y > hi_y:
                return None
            for _ in range(200):
                cx, cy = int(rng.integers(lo_x, hi_x + 1)), int(rng.integers(lo_y, hi_y + 1))
                if all(math.hypot(cx - px, cy - py) > r + pr + gap for px, py, pr in placed):
                    placed.append((cx, cy, r))
                    break
            else:
                return None
        return placed

    def sample(self, seed: int) -> Task:
        """The task for ``seed``; see the module docstring for the image rules."""
        rng = np.random.default_rng(seed)
        n = self.size
        names = sorted(DOT_COLORS)
        color = names[int(rng.integers(len(names)))]
        other_colors = [c for c in names if c != color]
        count = int(rng.integers(1, self.max_dots + 1))
        n_distract = int(rng.integers(0, 3))

        thick = self._px(2)
        while True:  # re-draw the box until the dots fit (a few tries at most; deterministic)
            side = int(rng.integers(self._px(40), self._px(64) + 1))
            margin = self._px(8)
            bx0 = int(rng.integers(margin, n - margin - side + 1))
            by0 = int(rng.integers(margin, n - margin - side + 1))
            bbox = (bx0, by0, bx0 + side, by0 + side)
            inner = (bx0 + thick, by0 + thick, bx0 + side - thick, by0 + side - thick)
            radii = [int(rng.integers(2, 4)) * max(1, round(self._k)) for _ in range(count + n_distract)]
            dots = self._place_dots(rng, inner, radii)
            if dots is not None:
                break

        base = rng.integers(212, 241, size=3)
        canvas = Image.new("RGB", (n, n), tuple(int(c) for c in base))
        draw = ImageDraw.Draw(canvas)
        keep_out = self._px(16)
        shapes: list[tuple[float, float, float]] = []
        for _ in range(int(rng.integers(3, 7))):
            for _ in range(50):
                r = float(rng.uniform(self._px(25), self._px(60)))
                cx, cy = float(rng.uniform(0, n)), float(rng.uniform(0, n))
                # distance from the shape's centre to the (enlarged) box, against its radius
                dx = max(bbox[0] - keep_out - cx, 0.0, cx - (bbox[2] + keep_out))
                dy = max(bbox[1] - keep_out - cy, 0.0, cy - (bbox[3] + keep_out))
                apart = all(math.hypot(cx - sx, cy - sy) > 1.5 * (r + sr) + keep_out for sx, sy, sr in shapes)
                if math.hypot(dx, dy) > r * 1.5 and apart:
                    shapes.append((cx, cy, r))
                    break
            else:
                continue
            if rng.random() < 0.75:
                fill = _PASTELS[int(rng.integers(len(_PASTELS)))]
            else:
                fill = DOT_COLORS[names[int(rng.integers(len(names)))]]
            kind = int(rng.integers(3))
            if kind == 0:
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
            elif kind == 1:
                w, h = r * float(rng.uniform(0.6, 1.0)), r * float(rng.uniform(0.6, 1.0))
                draw.rectangle((cx - w, cy - h, cx + w, cy + h), fill=fill)
            else:
                angle = float(rng.uniform(0, 2 * math.pi))
                pts = [
                    (
                        cx + r * math.cos(angle + i * 2 * math.pi / 3),
                        cy + r * math.sin(angle + i * 2 * math.pi / 3),
                    )
                    for i in range(3)
                ]
                draw.polygon(pts, fill=fill)

        image = np.array(canvas, dtype=np.uint8)
        dot_colors = [color] * count + [
            other_colors[int(rng.integers(len(other_colors)))] for _ in range(n_distract)
        ]
        for (cx, cy, r), name in zip(dots, dot_colors, strict=True):
            _disc(image, cx, cy, r, DOT_COLORS[name])
        is_background = (image == base.astype(np.uint8)).all(axis=2, keepdims=True)
        noisy = image + 5.0 * rng.standard_normal(image.shape, dtype=np.float32)
        low = np.where(is_background, np.float32(170), np.float32(1))  # only the outline is pure black
        image = np.clip(np.rint(noisy), low, np.float32(255)).astype(np.uint8)
        x0, y0, x1, y1 = bbox
        image[y0:y1, x0 : x0 + thick] = 0
        image[y0:y1, x1 - thick : x1] = 0
        image[y0 : y0 + thick, x0:x1] = 0
        image[y1 - thick : y1, x0:x1] = 0

        question = (
            f"How many {color} dots are inside the small box outlined in black? The image is {n}x{n} "
            "pixels; the view you see is shrunk, so zoom in with a tool first. Answer with a number."
        )

        def verify(answer_text: str) -> float:
            text = normalize_answer(str(answer_text))
            return 1.0 if _INT_RE.fullmatch(text) is not None and int(text) == count else 0.0

        meta = {"bbox": list(bbox), "count": count, "color": color, "distractor_dots": n_distract}
        return Task(question=question, answer=str(count), verify=verify, image=image, meta=meta)

    def expert(self, question: str, results: list[str], view: np.ndarray | None) -> ExpertTurn:
        """Crop the black box (no results yet), then count the target dots in the enlarged view.

        Turn 1 (no result text states a new view's ``(w x h px)``, so the view is still the whole
        image): the outline's bounding box in the view (:func:`find_outline`) is mapped back to
        original pixels through :func:`fit_view_geometry` (size from the question), padded by one
        view pixel's worth plus 2 px, clamped -> ``crop_image`` with int coordinates. Turn 2: the
        view is the fitted crop (or zoom window); its content region comes from the ``(w x h px)``
        of the latest result text stating one, and the answer is :func:`count_dots_in_box` for the
        colour named in the question. Error results (which leave the view unchanged) are skipped.

        Raises:
            ValueError: If ``view`` is None or the question does not state a size and a colour.
        """
        if view is None:
            raise ValueError("the ZoomCount expert needs the view image")
        size_match, color_match = _SIZE_RE.search(question), _COLOR_RE.search(question)
        if size_match is None or color_match is None:
            raise ValueError(f"cannot read the image size and dot colour from the question {question!r}")
        width, height = int(size_match.group(1)), int(size_match.group(2))
        view_w = view.shape[1]
        # The view changes only when an image tool succeeds; its result text states "(w x h px)".
        shown = next((m for m in map(_RESULT_SIZE_RE.search, reversed(results)) if m is not None), None)
        if shown is None:
            scale, ox, oy, new_w, new_h = fit_view_geometry(width, height, view_w)
            box = find_outline(view, (ox, oy, ox + new_w, oy + new_h))
            if box is None:
                return ExpertTurn(tool="crop_image", arguments={"bbox": [0, 0, width, height]})
            pad = math.ceil(1 / scale) + 2
            x0 = max(0, math.floor((box[0] - ox) / scale) - pad)
            y0 = max(0, math.floor((box[1] - oy) / scale) - pad)
            x1 = min(width, math.ceil((box[2] - ox) / scale) + pad)
            y1 = min(height, math.ceil((box[3] - oy) / scale) + pad)
            return ExpertTurn(tool="crop_image", arguments={"bbox": [x0, y0, x1, y1]})
        color = color_match.group(1).lower()
        if color not in DOT_COLORS:
            raise ValueError(f"unknown dot colour {color!r} in the question")
        _, ox, oy, new_w, new_h = fit_view_geometry(int(shown.group(1)), int(shown.group(2)), view_w)
        content = (ox, oy, ox + new_w, oy + new_h)
        return ExpertTurn(answer=str(count_dots_in_box(view, color, content)))
