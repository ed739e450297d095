"""Image tools: crop, zoom and rotate the task's full-resolution image, and fit images to the view.

The tool environment shows the model a *view*: a square uint8 image of ``V x V`` pixels. At the
start it is the task's full-resolution image shrunk with :func:`fit_view`; after an image tool it
is the tool's result image passed through :func:`fit_view` (shrunk or enlarged).

Coordinates:
    Every coordinate a model writes is a pixel coordinate of the task's ORIGINAL full-resolution
    image (``W x H``; the question states its size), never of the view. ``x`` runs right from the
    left edge, ``y`` runs down from the top edge. A box is ``[x0, y0, x1, y1]`` with ``x1``/``y1``
    exclusive, so it covers columns ``x0 .. x1-1`` and rows ``y0 .. y1-1`` (numpy
    ``image[y0:y1, x0:x1]``).

Tools (each raises :class:`ToolError` ``"this task has no image"`` on a text-only task):
    * :class:`CropImage` (``crop_image``): the pixels of one box.
    * :class:`ZoomImage` (``zoom_image``): a ``W/factor x H/factor`` window around a centre,
      shifted to stay inside the image.
    * :class:`RotateImage` (``rotate_image``): the whole image rotated counter-clockwise, the
      canvas expanded to hold it, the new corners mid-gray.
Tools always work on the original image, never on the previous result.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from embodied_rl.envs.tools.base import Tool, ToolContext, ToolError, ToolResult
from PIL import Image

__all__ = [
    "FILL_GRAY",
    "CropImage",
    "RotateImage",
    "ZoomImage",
    "fit_view",
    "fit_view_geometry",
    "validate_bbox",
]

FILL_GRAY: tuple[int, int, int] = (128, 128, 128)
"""Mid-gray used for the padding of :func:`fit_view` and the corners of :class:`RotateImage`."""

NO_IMAGE = "this task has no image"


def _check_image(image: Any, what: str = "image") -> np.ndarray:
    """Returns ``image`` if it is a uint8 ``[H, W, 3]`` array with ``H, W >= 1``; else ValueError."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{what} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{what} must have dtype uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what} must have shape [H, W, 3], got {list(image.shape)}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{what} must not be empty, got shape {list(image.shape)}")
    return image


def fit_view_geometry(width: int, height: int, size: int) -> tuple[float, int, int, int, int]:
    """Where :func:`fit_view` puts a ``width x height`` image on its ``size x size`` canvas.

    Returns:
        ``(scale, x_offset, y_offset, new_width, new_height)``: the image is resized by ``scale``
        (``size / max(width, height)``) to ``new_width x new_height`` (the longer side equals
        ``size``, the shorter is rounded, at least 1) and pasted with its top-left corner at
        ``(x_offset, y_offset)`` = ``((size - new_width) // 2, (size - new_height) // 2)``. An
        original pixel coordinate ``x`` maps to view coordinate ``x * scale + x_offset``.

    Raises:
        ValueError: If a dimension is not a positive int.
    """
    for name, value in (("width", width), ("height", height), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    scale = size / max(width, height)
    new_w = size if width >= height else max(1, min(size, _round(width * scale)))
    new_h = size if height >= width else max(1, min(size, _round(height * scale)))
    return scale, (size - new_w) // 2, (size - new_h) // 2, new_w, new_h


def fit_view(image: np.ndarray, size: int) -> np.ndarray:
    """Fits ``image`` into a ``size x size`` view.

    The image is resized (PIL, bilinear; shrinking is antialiased) so that its longer side is
    ``size`` and pasted centred on a mid-gray ``(128, 128, 128)`` canvas; see
    :func:`fit_view_geometry` for the exact placement.

    Args:
        image: uint8 ``[H, W, 3]``.
        size: The view's side in pixels, >= 1.

    Returns:
        A new uint8 ``[size, size, 3]`` array.

    Raises:
        ValueError: If ``image`` is not a non-empty uint8 ``[H, W, 3]`` array or ``size`` is not a
            positive int.
    """
    _check_image(image)
    height, width = image.shape[:2]
    _, x_off, y_off, new_w, new_h = fit_view_geometry(width, height, size)
    if (new_w, new_h) == (width, height):
        resized = np.array(image, dtype=np.uint8, copy=True)
    else:
        pil = Image.fromarray(np.ascontiguousarray(image))
        resized = np.asarray(pil.resize((new_w, new_h), Image.Resampling.BILINEAR), dtype=np.uint8)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = FILL_GRAY
    canvas[y_off : y_off + new_h, x_off : x_off + new_w] = resized
    return canvas


def _number(value: Any, label: str, where: str) -> float:
    """``value`` as a finite float; ToolError naming ``label`` and ``where`` otherwise."""
    if isinstance(value, bool):
        raise ToolError(f"{where}: {label} ({value!r}) must be a number, not a boolean")
    if not isinstance(value, int | float | np.integer | np.floating):
        raise ToolError(f"{where}: {label} ({value!r}) must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ToolError(f"{where}: {label} ({value!r}) must be a finite number")
    return float(value)


def _round(value: float) -> int:
    """Rounds to the nearest int, halves up (``2.5 -> 3``, ``-2.5 -> -2``)."""
    return math.floor(value + 0.5)


def _fmt(value: float) -> str:
    """A number for messages: ``3`` for integral values, else up to 6 significant digits."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def validate_bbox(bbox: Any, width: int, height: int, min_size: int = 4) -> tuple[int, int, int, int]:
    """Checks a box ``[x0, y0, x1, y1]`` against a ``width x height`` image.

    Rules, checked in this order (messages show the box after rounding, e.g. ``[10, 10, 5, 20]``):
        1. A list or tuple of exactly 4 items: ``"bbox must be a list of 4 numbers [x0, y0, x1,
           y1], got ..."``.
        2. Each item a finite int or float, not a bool: ``"bbox [...]: x0 (nan) must be a finite
           number"``. Floats are rounded to the nearest int, halves up.
        3. ``x1 > x0`` and ``y1 > y0``: ``"bbox [10, 10, 5, 20]: x1 (5) must be greater than x0
           (10)"``.
        4. Inside the image, ``0 <= x0``, ``0 <= y0``, ``x1 <= width``, ``y1 <= height``:
           ``"bbox [0, 0, 600, 40] is outside the 512x512 image: x1 (600) > width (512)"``.
        5. Both sides at least ``min_size``: ``"bbox [0, 0, 2, 40] is too small: width (2) must be
           at least 4 px"``.

    Args:
        bbox: The box as the model wrote it, in pixels of the original image.
        width: Image width in pixels.
        height: Image height in pixels.
        min_size: Smallest allowed side in pixels.

    Returns:
        ``(x0, y0, x1, y1)`` as ints; the box is ``image[y0:y1, x0:x1]``.

    Raises:
        ToolError: If a rule fails (message as above).
    """
    if not isinstance(bbox, list | tuple) or len(bbox) != 4:
        raise ToolError(f"bbox must be a list of 4 numbers [x0, y0, x1, y1], got {bbox!r}")
    names = ("x0", "y0", "x1", "y1")
    shown = "[" + ", ".join(repr(v) if isinstance(v, bool) else str(v) for v in bbox) + "]"
    x0, y0, x1, y1 = (_round(_number(v, n, f"bbox {shown}")) for v, n in zip(bbox, names, strict=True))
    box = f"[{x0}, {y0}, {x1}, {y1}]"
    if x1 <= x0:
        raise ToolError(f"bbox {box}: x1 ({x1}) must be greater than x0 ({x0})")
    if y1 <= y0:
        raise ToolError(f"bbox {box}: y1 ({y1}) must be greater than y0 ({y0})")
    outside = f"bbox {box} is outside the {width}x{height} image"
    if x0 < 0:
        raise ToolError(f"{outside}: x0 ({x0}) < 0")
    if y0 < 0:
        raise ToolError(f"{outside}: y0 ({y0}) < 0")
    if x1 > width:
        raise ToolError(f"{outside}: x1 ({x1}) > width ({width})")
    if y1 > height:
        raise ToolError(f"{outside}: y1 ({y1}) > height ({height})")
    if x1 - x0 < min_size:
        raise ToolError(f"bbox {box} is too small: width ({x1 - x0}) must be at least {min_size} px")
    if y1 - y0 < min_size:
        raise ToolError(f"bbox {box} is too small: height ({y1 - y0}) must be at least {min_size} px")
    return x0, y0, x1, y1


def _image(context: ToolContext) -> np.ndarray:
    """The episode's full-resolution image; ToolError if the task has none."""
    if context.image is None:
        raise ToolError(NO_IMAGE)
    return _check_image(context.image, "the task image")


def _arguments(arguments: Any, required: tuple[str, ...]) -> dict[str, Any]:
    """Checks that ``arguments`` is a dict with exactly the ``required`` keys."""
    if not isinstance(arguments, dict):
        raise ToolError(f"arguments must be a JSON object, got {type(arguments).__name__}")
    missing = [k for k in required if k not in arguments]
    if missing:
        raise ToolError(f"missing argument(s): {', '.join(missing)}")
    extra = sorted(str(k) for k in arguments if k not in required)
    if extra:
        raise ToolError(f"unknown argument(s): {', '.join(extra)}; expected: {', '.join(required)}")
    return arguments


class CropImage(Tool):
    """``crop_image``: the pixels of one box of the original image.

    Arguments: ``{"bbox": [x0, y0, x1, y1]}`` in original pixels (see :func:`validate_bbox`;
    sides at least 4 px). Result text: ``"cropped [x0, y0, x1, y1] (w x h px) of the 512x512
    image"``; result image: ``image[y0:y1, x0:x1]`` (a copy).
    """

    name = "crop_image"
    description = (
        "Crop a box of the original full-resolution image and show it enlarged in your view. "
        "Coordinates are pixels of the original image (its size is stated in the question), "
        "not of your view: x to the right, y down, x1/y1 exclusive."
    )
    parameters: dict[str, Any] = {
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

    def __call__(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        image = _image(context)
        args = _arguments(arguments, ("bbox",))
        height, width = image.shape[:2]
        x0, y0, x1, y1 = validate_bbox(args["bbox"], width, height)
        crop = np.array(image[y0:y1, x0:x1], dtype=np.uint8, copy=True)
        text = f"cropped [{x0}, {y0}, {x1}, {y1}] ({x1 - x0} x {y1 - y0} px) of the {width}x{height} image"
        return ToolResult(text=text, image=crop)


class ZoomImage(Tool):
    """``zoom_image``: a window of ``1/factor`` of the image's size around a centre.

    Arguments: ``{"center": [x, y], "factor": f}`` with the centre inside the image
    (``0 <= x <= W``, ``0 <= y <= H``) and ``1 <= f <= 16``. The window is
    ``round(W / f) x round(H / f)`` px (at least 1), its top-left corner at
    ``round(x - w / 2), round(y - h / 2)`` shifted to keep it inside the image. Result text:
    ``"zoomed 4x at (100, 200): window [36, 136, 164, 264] (128 x 128 px) of the 512x512 image"``,
    with ``", shifted to stay inside the image"`` appended when it was shifted.
    """

    name = "zoom_image"
    min_factor = 1.0
    max_factor = 16.0
    description = (
        "Zoom into the original full-resolution image: show the window of 1/factor of its width "
        "and height centred on a point (shifted to stay inside the image). The centre is in "
        "pixels of the original image (its size is stated in the question), not of your view."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "center": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 2,
                "maxItems": 2,
                "description": "[x, y] centre of the window in pixels of the original image",
            },
            "factor": {
                "type": "number",
                "minimum": 1,
                "maximum": 16,
                "description": "magnification: the window is 1/factor of the image's width and height",
            },
        },
        "required": ["center", "factor"],
        "additionalProperties": False,
    }

    def __call__(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        image = _image(context)
        args = _arguments(arguments, ("center", "factor"))
        height, width = image.shape[:2]
        center = args["center"]
        if not isinstance(center, list | tuple) or len(center) != 2:
            raise ToolError(f"center must be a list of 2 numbers [x, y], got {center!r}")
        cx = _number(center[0], "x", f"center {list(center)}")
        cy = _number(center[1], "y", f"center {list(center)}")
        factor = _number(args["factor"], "factor", "zoom")
        if not self.min_factor <= factor <= self.max_factor:
            raise ToolError(
                f"zoom: factor ({_fmt(factor)}) must be between {_fmt(self.min_factor)} and "
                f"{_fmt(self.max_factor)}"
            )
        where = f"({_fmt(cx)}, {_fmt(cy)})"
        if not (0 <= cx <= width and 0 <= cy <= height):
            raise ToolError(
                f"center {where} is outside the {width}x{height} image: x must be in [0, {width}] "
                f"and y in [0, {height}]"
            )
        win_w = max(1, min(width, _round(width / factor)))
        win_h = max(1, min(height, _round(height / factor)))
        want_x, want_y = _round(cx - win_w / 2), _round(cy - win_h / 2)
        x0 = min(max(want_x, 0), width - win_w)
        y0 = min(max(want_y, 0), height - win_h)
        x1, y1 = x0 + win_w, y0 + win_h
        text = (
            f"zoomed {_fmt(factor)}x at {where}: window [{x0}, {y0}, {x1}, {y1}] ({win_w} x {win_h} px) "
            f"of the {width}x{height} image"
        )
        if (x0, y0) != (want_x, want_y):
            text += ", shifted to stay inside the image"
        return ToolResult(text=text, image=np.array(image[y0:y1, x0:x1], dtype=np.uint8, copy=True))


class RotateImage(Tool):
    """``rotate_image``: the original image rotated counter-clockwise by ``degrees``.

    Arguments: ``{"degrees": d}`` with ``-360 <= d <= 360`` (negative is clockwise). PIL
    ``Image.rotate`` with bilinear resampling and ``expand=True``: the canvas grows to hold the
    whole rotated image and the uncovered corners are mid-gray ``(128, 128, 128)``; multiples of
    90 degrees are exact (``np.rot90``). Result text: ``"rotated the 512x384 image 90 degrees
    counter-clockwise: now 384 x 512 px"`` plus ``", corners filled mid-gray"`` for other angles.
    """

    name = "rotate_image"
    description = (
        "Rotate the original full-resolution image counter-clockwise by the given degrees "
        "(negative for clockwise); the canvas grows to hold the whole rotated image and the new "
        "corners are mid-gray. Coordinates in later calls still refer to the unrotated original."
    )
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "degrees": {
                "type": "number",
                "minimum": -360,
                "maximum": 360,
                "description": "counter-clockwise rotation angle in degrees (negative: clockwise)",
            }
        },
        "required": ["degrees"],
        "additionalProperties": False,
    }

    def __call__(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        image = _image(context)
        args = _arguments(arguments, ("degrees",))
        height, width = image.shape[:2]
        degrees = _number(args["degrees"], "degrees", "rotate")
        if not -360 <= degrees <= 360:
            raise ToolError(f"rotate: degrees ({_fmt(degrees)}) must be between -360 and 360")
        pil = Image.fromarray(np.ascontiguousarray(image))
        rotated = pil.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=FILL_GRAY)
        out = np.array(rotated, dtype=np.uint8)
        text = (
            f"rotated the {width}x{height} image {_fmt(degrees)} degrees counter-clockwise: "
            f"now {out.shape[1]} x {out.shape[0]} px"
        )
        if degrees % 90 != 0:
            text += ", corners filled mid-gray"
        return ToolResult(text=text, image=out)
