"""The MiniWoB++ tasks the MiniWoB backend can run, as plain data (no selenium or miniwob import).

Derived once from the installed ``miniwob==1.1.0``: every ``register(id="miniwob/<task>-v1", ...)``
in ``miniwob/registration.py`` (128 ids), with ``<task>`` kept and sorted. All of them run offline:
123 tasks are single HTML files under ``miniwob/html/miniwob/`` loaded from ``file://``; the three
FlightWoB tasks (``flight.AA``, ``flight.Alaska``, ``flight.Alaska-auto``) need an ``http://`` origin
and load from miniwob's own loopback HTTP server (``miniwob.http_server``, bound to 127.0.0.1);
checked with the backend's network-blocked Chromium: the airline pages and their local scripts
load, the third-party trackers they reference (tiqcdn, doubleclick, bing) fail and are not needed.
FlightWoB screens are 375x667 instead of 160x210 (:data:`FLIGHT_TASK_SIZE`).

Regenerate after a miniwob upgrade with::

    import re, miniwob.registration as r
    sorted(re.findall(r'id="miniwob/(.+?)-v1"', open(r.__file__).read()))
"""

from __future__ import annotations

__all__ = [
    "FLIGHT_TASK_SIZE",
    "GUI_EXPERT_TASKS",
    "MINIWOB_NONDETERMINISTIC",
    "MINIWOB_TASKS",
    "MINIWOB_VERSION",
    "TASK_SIZE",
    "task_size",
]

MINIWOB_VERSION = "1.1.0"
"""The miniwob release this list was derived from."""

TASK_SIZE = (160, 210)
"""``(width, height)`` of a MiniWoB task screen (``miniwob.constants.TASK_WIDTH/HEIGHT``)."""

FLIGHT_TASK_SIZE = (375, 667)
"""``(width, height)`` of a FlightWoB (``flight.*``) screen (``FLIGHT_TASK_WIDTH/HEIGHT``)."""

MINIWOB_TASKS: tuple[str, ...] = (
    "ascending-numbers",
    "bisect-angle",
    "book-flight",
    "book-flight-nodelay",
    "buy-ticket",
    "choose-date",
    "choose-date-easy",
    "choose-date-medium",
    "choose-date-nodelay",
    "choose-list",
    "circle-center",
    "click-button",
    "click-button-sequence",
    "click-checkboxes",
    "click-checkboxes-large",
    "click-checkboxes-soft",
    "click-checkboxes-transfer",
    "click-collapsible",
    "click-collapsible-2",
    "click-collapsible-2-nodelay",
    "click-collapsible-nodelay",
    "click-color",
    "click-dialog",
    "click-dialog-2",
    "click-link",
    "click-menu",
    "click-menu-2",
    "click-option",
    "click-pie",
    "click-pie-nodelay",
    "click-scroll-list",
    "click-shades",
    "click-shape",
    "click-tab",
    "click-tab-2",
    "click-tab-2-easy",
    "click-tab-2-hard",
    "click-tab-2-medium",
    "click-test",
    "click-test-2",
    "click-test-transfer",
    "click-widget",
    "copy-paste",
    "copy-paste-2",
    "count-shape",
    "count-sides",
    "daily-calendar",
    "drag-box",
    "drag-circle",
    "drag-cube",
    "drag-items",
    "drag-items-grid",
    "drag-shapes",
    "drag-shapes-2",
    "drag-single-shape",
    "drag-sort-numbers",
    "draw-circle",
    "draw-line",
    "email-inbox",
    "email-inbox-delete",
    "email-inbox-forward",
    "email-inbox-forward-nl",
    "email-inbox-forward-nl-turk",
    "email-inbox-important",
    "email-inbox-nl-turk",
    "email-inbox-noscroll",
    "email-inbox-reply",
    "email-inbox-star-reply",
    "enter-date",
    "enter-password",
    "enter-text",
    "enter-text-2",
    "enter-text-dynamic",
    "enter-time",
    "find-greatest",
    "find-midpoint",
    "find-word",
    "flight.AA",
    "flight.Alaska",
    "flight.Alaska-auto",
    "focus-text",
    "focus-text-2",
    "form-sequence",
    "form-sequence-2",
    "form-sequence-3",
    "generate-number",
    "grid-coordinate",
    "guess-number",
    "highlight-text",
    "highlight-text-2",
    "hot-cold",
    "identify-shape",
    "login-user",
    "login-user-popup",
    "multi-layouts",
    "multi-orderings",
    "navigate-tree",
    "number-checkboxes",
    "odd-or-even",
    "order-food",
    "phone-book",
    "read-table",
    "read-table-2",
    "resize-textarea",
    "right-angle",
    "scroll-text",
    "scroll-text-2",
    "search-engine",
    "sign-agreement",
    "simple-algebra",
    "simple-arithmetic",
    "social-media",
    "social-media-all",
    "social-media-some",
    "stock-market",
    "terminal",
    "text-editor",
    "text-transform",
    "tic-tac-toe",
    "unicode-test",
    "use-autocomplete",
    "use-autocomplete-nodelay",
    "use-colorwheel",
    "use-colorwheel-2",
    "use-slider",
    "use-slider-2",
    "use-spinner",
    "visual-addition",
)
"""Every task ``miniwob==1.1.0`` registers (``miniwob/<task>-v1``), all runnable offline."""

MINIWOB_NONDETERMINISTIC: frozenset[str] = frozenset(
    {
        "book-flight",
        "book-flight-nodelay",
        "choose-date",
        "choose-date-easy",
        "choose-date-medium",
        "choose-date-nodelay",
        "click-dialog",
        "click-dialog-2",
        "click-pie",
        "click-pie-nodelay",
        "click-scroll-list",
        "drag-cube",
        "flight.AA",
        "flight.Alaska",
        "flight.Alaska-auto",
        "order-food",
        "phone-book",
        "scroll-text",
        "scroll-text-2",
        "search-engine",
        "social-media",
        "social-media-all",
        "social-media-some",
        "stock-market",
        "terminal",
    }
)
"""Tasks miniwob registers with ``nondeterministic=True``: the same seed may not give the same
instance (jQuery widget state that survives a reset, wall-clock dates, async page loads)."""

GUI_EXPERT_TASKS: tuple[str, ...] = (
    "click-test",
    "click-test-2",
    "click-test-transfer",
    "click-button",
    "click-button-sequence",
    "click-checkboxes",
    "click-checkboxes-transfer",
    "click-option",
    "enter-text",
    "enter-text-2",
    "enter-text-dynamic",
    "focus-text",
    "focus-text-2",
    "click-link",
    "click-tab-2",
    "click-tab-2-easy",
    "click-dialog",
    "click-dialog-2",
    "click-tab",
    "enter-password",
    "login-user",
    "login-user-popup",
    "click-widget",
    "click-collapsible",
    "click-collapsible-nodelay",
    "multi-layouts",
    "multi-orderings",
)
"""The tasks with a scripted expert (the keys of :data:`~embodied_rl.envs.gui.experts.GUI_EXPERTS`,
kept here as data so listing envs imports nothing); each expert solved >= 95% of 50 seeds."""


def task_size(task: str) -> tuple[int, int]:
    """``(width, height)`` of ``task``'s screen: 375x667 for ``flight.*``, else 160x210."""
    return FLIGHT_TASK_SIZE if task.startswith("flight.") else TASK_SIZE
