"""Pictures of GUI episodes: a screenshot with the action drawn on it.

Used by :meth:`GuiEnv.render <embodied_rl.envs.gui.env.GuiEnv.render>`, so ``embodied-rl
eval`` videos and screenshot strips (``strips/``) show what the agent did.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from embodied_rl.envs.gui.base import Element, GuiAction
from PIL import Image, ImageDraw

__all__ = ["draw_action"]

ZOOM = 2
CAPTION = 28
RED = (220, 30, 30)
BLUE = (30, 90, 220)


def _marker(draw: ImageDraw.ImageDraw, x: float, y: float, colour: tuple[int, int, int]) -> None:
    r = 7
    draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=2)
    draw.line((x - r - 3, y, x + r + 3, y), fill=colour)
    draw.line((x, y - r - 3, x, y + r + 3), fill=colour)


def draw_action(
    screenshot: np.ndarray,
    action: GuiAction | None,
    elements: Sequence[Element] = (),
    caption: str = "",
    note: str = "",
    error: str = "",
) -> np.ndarray:
    """``uint8[2H + 2*CAPTION, 2W, 3]``: the screenshot at 2x, ``action`` drawn on it.

    Clicks and scrolls get a red cross-hair at the point; ``click_element`` a blue box around
    the element; ``type``/``press`` a label at the bottom. ``caption`` goes above (task, step,
    reward), ``note`` below (the action text) and ``error`` in red (why it was invalid).
    """
    height, width = screenshot.shape[:2]
    frame = Image.new("RGB", (width * ZOOM, height * ZOOM + 2 * CAPTION), (255, 255, 255))
    frame.paste(
        Image.fromarray(screenshot).resize((width * ZOOM, height * ZOOM), Image.NEAREST), (0, CAPTION)
    )
    draw = ImageDraw.Draw(frame)
    draw.text((4, 8), caption[:60], fill=(0, 0, 0))
    if action is not None:
        if action.kind in ("click", "scroll") and action.x is not None and action.y is not None:
            _marker(draw, action.x * ZOOM, action.y * ZOOM + CAPTION, RED)
            if action.kind == "scroll":
                draw.text(
                    (action.x * ZOOM + 10, action.y * ZOOM + CAPTION - 6), action.direction or "", fill=RED
                )
        elif action.kind == "click_element":
            for el in elements:
                if el.ref == action.ref:
                    box = (el.left, el.top, el.left + el.width, el.top + el.height)
                    draw.rectangle(
                        [v * ZOOM + (CAPTION if i % 2 else 0) for i, v in enumerate(box)],
                        outline=BLUE,
                        width=2,
                    )
    draw.text((4, height * ZOOM + CAPTION + 2), note[:60], fill=(0, 0, 0))
    draw.text((4, height * ZOOM + CAPTION + 14), error[:60], fill=RED)
    return np.asarray(frame)
