"""Tests for the image tools (fit_view, validate_bbox, crop/zoom/rotate) and the ZoomCount task family."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from embodied_rl.envs.tools.base import ExpertTurn, Task, ToolContext, ToolError
from embodied_rl.envs.tools.image import (
    FILL_GRAY,
    CropImage,
    RotateImage,
    ZoomImage,
    fit_view,
    fit_view_geometry,
    validate_bbox,
)
from embodied_rl.envs.tools.zoom_tasks import DOT_COLORS, ZoomCount, count_dots_in_box, find_outline

VIEW = 128
N_SEEDS = 200


def _random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


# ---- fit_view ----------------------------------------------------------------------------------


def test_fit_view_square_shrinks_to_full_view() -> None:
    out = fit_view(np.full((512, 512, 3), 200, dtype=np.uint8), VIEW)
    assert out.shape == (VIEW, VIEW, 3) and out.dtype == np.uint8
    assert np.all(out == 200)  # no padding, uniform stays uniform


def test_fit_view_wide_image_is_centred_with_gray_bands() -> None:
    image = np.full((100, 200, 3), (10, 200, 30), dtype=np.uint8)
    out = fit_view(image, 64)
    assert fit_view_geometry(200, 100, 64) == (0.32, 0, 16, 64, 32)
    assert np.all(out[16:48] == (10, 200, 30))
    assert np.all(out[:16] == FILL_GRAY) and np.all(out[48:] == FILL_GRAY)


def test_fit_view_tall_image_is_centred_with_gray_bands() -> None:
    image = np.full((90, 30, 3), 250, dtype=np.uint8)
    out = fit_view(image, 60)
    _, ox, oy, new_w, new_h = fit_view_geometry(30, 90, 60)
    assert (ox, oy, new_w, new_h) == (20, 0, 20, 60)
    assert np.all(out[:, 20:40] == 250)
    assert np.all(out[:, :20] == FILL_GRAY) and np.all(out[:, 40:] == FILL_GRAY)


def test_fit_view_odd_padding_and_enlarging() -> None:
    out = fit_view(np.full((1, 3, 3), 7, dtype=np.uint8), 4)  # 3x1 -> 4x1, padding 1 above, 2 below
    assert out.shape == (4, 4, 3)
    assert np.all(out[1] == 7) and np.all(out[0] == FILL_GRAY) and np.all(out[2:] == FILL_GRAY)
    small = fit_view(np.full((10, 20, 3), 90, dtype=np.uint8), VIEW)
    assert np.all(small[32:96] == 90) and np.all(small[:32] == FILL_GRAY)


def test_fit_view_same_size_is_an_exact_copy() -> None:
    image = _random_image(VIEW, VIEW)
    out = fit_view(image, VIEW)
    assert np.array_equal(out, image) and out is not image


def test_fit_view_keeps_positions() -> None:
    image = np.zeros((200, 400, 3), dtype=np.uint8)
    image[152:172, 300:320] = 255  # a white square at original x 300..319, y 152..171
    out = fit_view(image, 100)  # scale 0.25, y offset 25
    scale, ox, oy, _, _ = fit_view_geometry(400, 200, 100)
    ys, xs = np.nonzero(out[..., 0] > 128)
    assert (xs.min(), xs.max()) == (ox + 300 * scale, ox + 320 * scale - 1)
    assert (ys.min(), ys.max()) == (oy + 152 * scale, oy + 172 * scale - 1)


@pytest.mark.parametrize(
    ("image", "size", "message"),
    [
        ([[[0, 0, 0]]], 8, "image must be a numpy array, got list"),
        (np.zeros((4, 4, 3), dtype=np.float32), 8, "image must have dtype uint8, got float32"),
        (np.zeros((4, 4), dtype=np.uint8), 8, r"image must have shape \[H, W, 3\], got \[4, 4\]"),
        (np.zeros((4, 4, 4), dtype=np.uint8), 8, r"image must have shape \[H, W, 3\], got \[4, 4, 4\]"),
        (np.zeros((0, 4, 3), dtype=np.uint8), 8, r"image must not be empty, got shape \[0, 4, 3\]"),
        (np.zeros((4, 4, 3), dtype=np.uint8), 0, "size must be a positive int, got 0"),
        (np.zeros((4, 4, 3), dtype=np.uint8), 8.0, "size must be a positive int, got 8.0"),
    ],
)
def test_fit_view_rejects_bad_input(image: object, size: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        fit_view(image, size)  # type: ignore[arg-type]


# ---- validate_bbox -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ([10, 10, 5, 20], "bbox [10, 10, 5, 20]: x1 (5) must be greater than x0 (10)"),
        ([10, 10, 10, 20], "bbox [10, 10, 10, 20]: x1 (10) must be greater than x0 (10)"),
        ([0, 30, 10, 20], "bbox [0, 30, 10, 20]: y1 (20) must be greater than y0 (30)"),
        ([-1, 0, 10, 20], "bbox [-1, 0, 10, 20] is outside the 512x384 image: x0 (-1) < 0"),
        ([0, -5, 10, 20], "bbox [0, -5, 10, 20] is outside the 512x384 image: y0 (-5) < 0"),
        ([0, 0, 600, 40], "bbox [0, 0, 600, 40] is outside the 512x384 image: x1 (600) > width (512)"),
        ([0, 0, 40, 385], "bbox [0, 0, 40, 385] is outside the 512x384 image: y1 (385) > height (384)"),
        ([0, 0, 2, 40], "bbox [0, 0, 2, 40] is too small: width (2) must be at least 4 px"),
        ([0, 0, 40, 3], "bbox [0, 0, 40, 3] is too small: height (3) must be at least 4 px"),
        ([1, 2, 3], "bbox must be a list of 4 numbers [x0, y0, x1, y1], got [1, 2, 3]"),
        ([1, 2, 3, 4, 5], "bbox must be a list of 4 numbers [x0, y0, x1, y1], got [1, 2, 3, 4, 5]"),
        ("0 0 10 10", "bbox must be a list of 4 numbers [x0, y0, x1, y1], got '0 0 10 10'"),
        ([0, True, 10, 10], "bbox [0, True, 10, 10]: y0 (True) must be a number, not a boolean"),
        ([0, 0, math.nan, 10], "bbox [0, 0, nan, 10]: x1 (nan) must be a finite number"),
        ([0, 0, 10, math.inf], "bbox [0, 0, 10, inf]: y1 (inf) must be a finite number"),
        ([0, "1", 10, 10], "bbox [0, 1, 10, 10]: y0 ('1') must be a number, got str"),
        ([0, None, 10, 10], "bbox [0, None, 10, 10]: y0 (None) must be a number, got NoneType"),
    ],
)
def test_validate_bbox_rules(bbox: object, message: str) -> None:
    with pytest.raises(ToolError) as info:
        validate_bbox(bbox, 512, 384)
    assert str(info.value) == message


def test_validate_bbox_accepts_and_rounds() -> None:
    assert validate_bbox([0, 0, 512, 384], 512, 384) == (0, 0, 512, 384)
    assert validate_bbox((1.4, 1.5, 10.49, 20.6), 512, 384) == (1, 2, 10, 21)
    assert validate_bbox([0, 0, 4, 4], 512, 384) == (0, 0, 4, 4)
    assert validate_bbox([0, 0, 2, 2], 512, 384, min_size=2) == (0, 0, 2, 2)
    assert all(type(v) is int for v in validate_bbox([np.float32(3.7), 0, 10, 10], 512, 384))
    with pytest.raises(ToolError, match=r"^bbox \[10, 0, 10, 10\]: x1 \(10\) must be greater than x0"):
        validate_bbox([9.6, 0, 10.2, 10], 512, 384)  # the rules apply to the rounded box


# ---- the tools ---------------------------------------------------------------------------------


def test_crop_image_returns_exactly_the_box() -> None:
    image = _random_image(384, 512)
    result = CropImage()({"bbox": [100, 50, 164.2, 90]}, ToolContext(image=image))
    assert result.text == "cropped [100, 50, 164, 90] (64 x 40 px) of the 512x384 image"
    assert result.image is not None and result.image.dtype == np.uint8
    assert np.array_equal(result.image, image[50:90, 100:164])
    result.image[:] = 0  # a copy: the task image is untouched
    assert image[50:90, 100:164].any()


def test_crop_image_errors_and_schema() -> None:
    tool = CropImage()
    with pytest.raises(ToolError, match=r"^bbox \[0, 0, 600, 40\] is outside the 512x384 image"):
        tool({"bbox": [0, 0, 600, 40]}, ToolContext(image=_random_image(384, 512)))
    with pytest.raises(ToolError, match="^missing argument"):
        tool({}, ToolContext(image=_random_image(8, 8)))
    assert tool.schema()["name"] == "crop_image"
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "bbox": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 4,
                "maxItems": 4,
                "description": "[x0, y0, x1, y1] in pixels of the original image",
            }
        },
        "required": ["bbox"],
        "additionalProperties": False,
    }


def test_zoom_image_window_and_clamping() -> None:
    image = _random_image(512, 512)
    zoom = ZoomImage()
    result = zoom({"center": [100, 200], "factor": 4}, ToolContext(image=image))
    assert (
        result.text
        == "zoomed 4x at (100, 200): window [36, 136, 164, 264] (128 x 128 px) of the 512x512 image"
    )
    assert np.array_equal(result.image, image[136:264, 36:164])
    corner = zoom({"center": [500, 3], "factor": 8}, ToolContext(image=image))
    assert corner.text.endswith(
        "window [448, 0, 512, 64] (64 x 64 px) of the 512x512 image, shifted to stay inside the image"
    )
    assert np.array_equal(corner.image, image[0:64, 448:512])
    whole = zoom({"center": [256, 256], "factor": 1}, ToolContext(image=image))
    assert np.array_equal(whole.image, image)
    wide = _random_image(300, 600)
    half = zoom({"center": [300, 150], "factor": 2.5}, ToolContext(image=wide))
    assert half.image.shape == (120, 240, 3)  # 600/2.5 x 300/2.5
    assert np.array_equal(half.image, wide[90:210, 180:420])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"center": [600, 10], "factor": 2},
            r"center \(600, 10\) is outside the 512x512 image: x must be in \[0, 512\] and y in \[0, 512\]$",
        ),
        ({"center": [10, -1], "factor": 2}, r"center \(10, -1\) is outside the 512x512 image"),
        ({"center": [10, 10], "factor": 0.5}, r"zoom: factor \(0.5\) must be between 1 and 16"),
        ({"center": [10, 10], "factor": 17}, r"zoom: factor \(17\) must be between 1 and 16"),
        ({"center": [10, 10], "factor": math.nan}, r"zoom: factor \(nan\) must be a finite number"),
        ({"center": [10], "factor": 2}, r"center must be a list of 2 numbers \[x, y\], got \[10\]"),
        (
            {"center": [True, 10], "factor": 2},
            r"center \[True, 10\]: x \(True\) must be a number, not a boolean",
        ),
        ({"center": [10, 10], "factor": 2, "extra": 1}, "unknown argument"),
    ],
)
def test_zoom_image_rejects(arguments: dict, message: str) -> None:
    with pytest.raises(ToolError, match=f"^{message}"):
        ZoomImage()(arguments, ToolContext(image=_random_image(512, 512)))


def test_rotate_image_is_counter_clockwise() -> None:
    square = _random_image(64, 64)
    rotate = RotateImage()
    result = rotate({"degrees": 90}, ToolContext(image=square))
    assert np.array_equal(result.image, np.rot90(square))  # np.rot90: counter-clockwise
    assert result.text == "rotated the 64x64 image 90 degrees counter-clockwise: now 64 x 64 px"
    assert np.array_equal(rotate({"degrees": -90}, ToolContext(image=square)).image, np.rot90(square, -1))
    assert np.array_equal(rotate({"degrees": 180}, ToolContext(image=square)).image, np.rot90(square, 2))
    assert np.array_equal(rotate({"degrees": 360}, ToolContext(image=square)).image, square)
    wide = _random_image(30, 50)
    assert np.array_equal(rotate({"degrees": 270}, ToolContext(image=wide)).image, np.rot90(wide, 3))


def test_rotate_image_expands_with_gray_corners() -> None:
    image = np.full((100, 100, 3), 255, dtype=np.uint8)
    result = RotateImage()({"degrees": 45}, ToolContext(image=image))
    assert result.image.shape[0] == result.image.shape[1]
    assert 140 <= result.image.shape[0] <= 143  # 100 * sqrt(2)
    assert np.array_equal(result.image[0, 0], FILL_GRAY) and np.array_equal(result.image[-1, -1], FILL_GRAY)
    centre = result.image.shape[0] // 2
    assert np.all(result.image[centre, centre] == 255)
    assert result.text.endswith("corners filled mid-gray")
    with pytest.raises(ToolError, match=r"^rotate: degrees \(400\) must be between -360 and 360$"):
        RotateImage()({"degrees": 400}, ToolContext(image=image))


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        (CropImage(), {"bbox": [0, 0, 10, 10]}),
        (ZoomImage(), {"center": [5, 5], "factor": 2}),
        (RotateImage(), {"degrees": 90}),
    ],
)
def test_tools_need_an_image(tool, arguments: dict) -> None:
    with pytest.raises(ToolError, match="^this task has no image$"):
        tool(arguments, ToolContext(image=None))


# ---- ZoomCount ---------------------------------------------------------------------------------


@dataclass
class _Run:
    task: Task
    first: ExpertTurn
    crop_text: str
    crop_view: np.ndarray
    answer: str
    score: float
    no_zoom_count: int


@pytest.fixture(scope="module")
def source() -> ZoomCount:
    return ZoomCount(image_size=512, view_size=VIEW)


@pytest.fixture(scope="module")
def runs(source: ZoomCount) -> list[_Run]:
    """The expert end to end on seeds 0..199, plus the no-zoom count on the first view."""
    out = []
    crop = CropImage()
    for seed in range(N_SEEDS):
        task = source.sample(seed)
        view = fit_view(task.image, VIEW)
        first = source.expert(task.question, [], view)
        result = crop(first.arguments, ToolContext(image=task.image, view=view, seed=seed))
        crop_view = fit_view(result.image, VIEW)
        second = source.expert(task.question, [result.text], crop_view)
        assert second.answer is not None
        no_zoom = count_dots_in_box(view, task.meta["color"])
        out.append(
            _Run(task, first, result.text, crop_view, second.answer, task.verify(second.answer), no_zoom)
        )
    return out


def test_zoom_count_is_deterministic(source: ZoomCount) -> None:
    a, b = source.sample(7), source.sample(7)
    assert np.array_equal(a.image, b.image) and a.question == b.question and a.answer == b.answer
    assert a.meta == b.meta
    others = [source.sample(s) for s in (8, 9)]
    assert not any(np.array_equal(a.image, o.image) for o in others)


def test_zoom_count_tasks(runs: list[_Run], source: ZoomCount) -> None:
    assert source.image_size == (512, 512) and source.tools == ("crop_image", "zoom_image")
    counts, colors = set(), set()
    for run in runs:
        task = run.task
        assert task.image.shape == (512, 512, 3) and task.image.dtype == np.uint8
        count = task.meta["count"]
        assert 1 <= count <= 6 and task.answer == str(count)
        counts.add(count)
        colors.add(task.meta["color"])
        assert task.question == (
            f"How many {task.meta['color']} dots are inside the small box outlined in black? The image is "
            "512x512 pixels; the view you see is shrunk, so zoom in with a tool first. Answer with a number."
        )
        x0, y0, x1, y1 = task.meta["bbox"]
        assert 40 <= x1 - x0 == y1 - y0 <= 64
        # pure black is exactly the 2 px outline
        black = np.all(task.image == 0, axis=2)
        ring = np.zeros_like(black)
        ring[y0:y1, x0:x1] = True
        ring[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2] = False
        assert np.array_equal(black, ring)
    assert counts == set(range(1, 7)) and colors == set(DOT_COLORS)


def test_zoom_count_verify(runs: list[_Run]) -> None:
    task = next(run.task for run in runs if run.task.meta["count"] == 3)
    for good in ("3", " 3.", "3!", "+3", "03", "\n3 "):
        assert task.verify(good) == 1.0, good
    for bad in ("three", "4", "", "3.0", "3 dots", "-3", "\u0663"):
        assert task.verify(bad) == 0.0, bad


def test_zoom_count_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="image_size"):
        ZoomCount(image_size=100)
    with pytest.raises(ValueError, match="view_size"):
        ZoomCount(image_size=512, view_size=512)
    with pytest.raises(ValueError, match="max_dots"):
        ZoomCount(max_dots=0)


def test_expert_crops_the_box(runs: list[_Run]) -> None:
    for run in runs:
        assert run.first.tool == "crop_image"
        bbox = run.first.arguments["bbox"]
        assert all(type(v) is int for v in bbox)
        x0, y0, x1, y1 = run.task.meta["bbox"]
        assert bbox[0] <= x0 and bbox[1] <= y0 and bbox[2] >= x1 and bbox[3] >= y1
        assert bbox[2] - bbox[0] <= (x1 - x0) + 24 and bbox[3] - bbox[1] <= (y1 - y0) + 24


def test_expert_solves_end_to_end(runs: list[_Run]) -> None:
    rate = sum(run.score for run in runs) / len(runs)
    print(f"ZoomCount expert success: {rate:.1%} of {len(runs)} seeds")
    assert rate >= 0.95


def test_counting_needs_a_zoom(runs: list[_Run]) -> None:
    """The expert's counting routine on the 128 px view of the whole image mostly fails."""
    no_zoom = sum(run.no_zoom_count == run.task.meta["count"] for run in runs) / len(runs)
    zoomed = sum(
        count_dots_in_box(run.crop_view, run.task.meta["color"], _content(run.crop_text))
        == run.task.meta["count"]
        for run in runs
    ) / len(runs)
    print(f"counting right: {no_zoom:.1%} without a zoom, {zoomed:.1%} on the crop")
    assert no_zoom < 0.6 and zoomed >= 0.95 and zoomed - no_zoom >= 0.35


def _content(text: str) -> tuple[int, int, int, int]:
    w, h = (int(v) for v in text.split("(")[1].split(" px")[0].split(" x "))
    _, ox, oy, nw, nh = fit_view_geometry(w, h, VIEW)
    return ox, oy, ox + nw, oy + nh


def test_expert_handles_a_padded_non_square_crop(source: ZoomCount) -> None:
    """A crop clamped by the image edge is not square: fit_view pads it with gray, not outline."""
    solved = 0
    for seed in range(20):
        task = source.sample(seed)
        x0, y0, x1, y1 = task.meta["bbox"]
        bbox = [max(0, x0 - 4), max(0, y0 - 40), min(512, x1 + 4), min(512, y1 + 4)]
        result = CropImage()({"bbox": bbox}, ToolContext(image=task.image))
        view = fit_view(result.image, VIEW)
        assert np.all(view[:, 0] == FILL_GRAY)  # padded left and right
        solved += task.verify(source.expert(task.question, [result.text], view).answer)
    assert solved >= 19


def test_find_outline_ignores_padding() -> None:
    view = np.full((20, 20, 3), 230, dtype=np.uint8)
    view[:, :4] = FILL_GRAY  # fit_view padding
    view[5:15, 8] = 0
    view[5:15, 16] = 0
    view[5, 8:17] = 0
    view[14, 8:17] = 0
    assert find_outline(view, (4, 0, 20, 20)) == (8, 5, 17, 15)
    view[7, 10:12] = DOT_COLORS["red"]
    view[11, 12:14] = DOT_COLORS["red"]
    assert count_dots_in_box(view, "red", (4, 0, 20, 20)) == 2
    assert count_dots_in_box(view, "blue", (4, 0, 20, 20)) == 0
    assert find_outline(np.full((8, 8, 3), 230, dtype=np.uint8)) is None


def test_expert_needs_a_view(source: ZoomCount) -> None:
    task = source.sample(0)
    with pytest.raises(ValueError, match="needs the view"):
        source.expert(task.question, [], None)


def test_expert_skips_error_results_and_reads_zoom_results(source: ZoomCount, runs: list[_Run]) -> None:
    run = runs[0]
    task = run.task
    view = fit_view(task.image, VIEW)
    error = "error: bbox [0, 0, 600, 40] is outside the 512x512 image: x1 (600) > width (512)"
    assert source.expert(task.question, [error], view) == run.first  # the view is still the whole image
    assert source.expert(task.question, [run.crop_text, error], run.crop_view).answer == run.answer
    x0, y0, x1, y1 = task.meta["bbox"]
    zoom = ZoomImage()({"center": [(x0 + x1) / 2, (y0 + y1) / 2], "factor": 6}, ToolContext(image=task.image))
    answer = source.expert(task.question, [zoom.text], fit_view(zoom.image, VIEW)).answer
    assert task.verify(answer) == 1.0
