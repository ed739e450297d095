"""The GUI scripted expert as a batch policy: click styles and expert options."""

from __future__ import annotations

import re

import pytest
from embodied_rl.envs.experts import expert_for
from embodied_rl.envs.gui.base import Element
from embodied_rl.envs.gui.expert_policy import as_ref_click

from embodied_rl.sft import collect_demos

KWARGS = {"max_steps": 4, "history": 3, "show_grammar": False}
CLICK_TASKS = ["click-test", "click-button", "focus-text", "click-link", "click-checkboxes"]


def _el(ref: int, x: float, y: float) -> Element:
    return Element(ref=ref, tag="button", text=f"b{ref}", left=x, top=y, width=0, height=0)


def test_as_ref_click_maps_centers_to_refs_and_leaves_the_rest() -> None:
    elements = [_el(4, 26, 176), _el(7, 80, 95)]
    assert as_ref_click("click(80, 95)", elements) == "click_element(7)"
    assert as_ref_click(" click(26, 176) ", elements) == "click_element(4)"
    assert as_ref_click("click(81, 95)", elements) == "click(81, 95)"  # not a listed center
    assert as_ref_click('type("Kasey")', elements) == 'type("Kasey")'
    assert as_ref_click("click(80, 95)", []) == "click(80, 95)"


@pytest.mark.parametrize("clicks", ["coords", "refs"])
def test_both_click_styles_solve_the_synthetic_click_tasks(clicks: str) -> None:
    demos = collect_demos(
        "GuiSynthetic-v0",
        40,
        seed=0,
        num_envs=8,
        env_kwargs={**KWARGS, "tasks": CLICK_TASKS},
        expert_kwargs={"clicks": clicks},
    )
    assert demos.success_rate >= 0.95
    kinds = {re.match(r"\w+", a).group(0) for a in demos.actions}
    assert kinds == ({"click_element"} if clicks == "refs" else {"click"})
    assert all(a.endswith("\n") for a in demos.actions)


def test_unknown_click_style_and_unknown_expert_options_are_errors() -> None:
    with pytest.raises(ValueError, match="clicks must be one of"):
        expert_for("GuiSynthetic-v0", expert_kwargs={"clicks": "pixels"})
    with pytest.raises(ValueError, match=r"has no option\(s\) \['speed'\].*clicks"):
        expert_for("GuiSynthetic-v0", expert_kwargs={"speed": 2})
    with pytest.raises(ValueError, match="has no option"):
        expert_for("PointReach-v0", expert_kwargs={"clicks": "refs"})
