"""MiniWoB++ tasks in a real, network-blocked headless Chromium (the ``miniwob`` GUI backend).

What it runs: the task pages that ship in the ``miniwob==1.1.0`` wheel
(:data:`~embodied_rl.envs.gui.miniwob_tasks.MINIWOB_TASKS`), driven through Selenium and
Debian's ``chromium`` + ``chromedriver``, reusing miniwob's own pieces: the page-side ``core``
API (``core.endEpisode`` / ``core.startEpisodeReal`` / ``core.getDOMInfo`` /
``core.elementClick``), :class:`miniwob.dom.DOMElement`, :func:`miniwob.screenshot.get_screenshot`,
the action executors of :mod:`miniwob.selenium_actions` and the reward processors of
:mod:`miniwob.reward`. One browser per backend instance lives across episodes and tasks: a reset
on the task already loaded ends the episode and starts a new one in the same page (as miniwob's
``SeleniumInstance`` does); another task is loaded into the same browser. FlightWoB tasks
(``flight.*``) load from a loopback HTTP server over miniwob's ``html/`` and have a 375x667 screen; every other task
is 160x210 and loads from ``file://``.

Kept off the network: ``--headless --no-sandbox --disable-gpu --disable-background-networking
--disable-component-update --disable-sync --no-first-run --disable-extensions
--disable-dev-shm-usage``, a fresh ``--user-data-dir`` removed on :meth:`MiniWoBBackend.close`,
``--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1`` (no name and no
IP literal but loopback resolves) and ``--proxy-server=127.0.0.1:9 --proxy-bypass-list=<loopback>``
(anything not loopback goes to a closed port). Each layer alone blocks a page's
``fetch('http://example.com')`` and a fetch to this machine's own non-loopback address; loopback
(the flight pages' server) still loads. Note that ``--proxy-bypass-list=<-loopback>`` would send
loopback to the dead proxy too (it *removes* Chromium's implicit loopback bypass), and that
``MAP *`` also maps IP literals, hence ``EXCLUDE 127.0.0.1``.
``MINIWOB_CHROME_BINARY`` / ``MINIWOB_CHROMEDRIVER`` are set in ``os.environ`` before any Selenium
use, and the driver path is always given, so Selenium Manager never goes online.

Timings measured here (2 CPU cores shared with other jobs, Chromium 156, 160x210 tasks): first
reset ~1.4 s (browser start ~0.6 s + page load); reset on the loaded task ~65 ms; reset that
switches task ~165 ms; step median ~67 ms, p90 ~90 ms (action + settle check + DOM read +
screenshot; the screenshot alone is ~45 ms, a step without it ~16 ms).

Things about miniwob worked around:

* the page's 10 s episode limit (``core.EPISODE_MAX_TIME``) is set before every episode
  (``episode_time_s``, 600 s by default);
* the sync cover (a black "START" screen) drops over the task when an episode ends; it is hidden
  before the final screenshot, so a finished page shows the task's last state;
* headless Chromium's viewport is ~143 px shorter than its window and at least 500 px wide, so the
  window is made large enough for the 375x667 FlightWoB screen (the screenshot is cropped);
* text-node pseudo elements (tag ``t``) get a new negative ref on every DOM read and cannot be
  clicked by ref, so they are not listed; the text of a label or button is the text inside it;
* jQuery animations (accordions, dialogs) move elements for a few hundred ms after a click: a step
  waits (``settle_s``) until none runs, so the listed boxes are where the next click lands;
* a worker killed without cleanup would leave chromedriver and ~9 Chromium processes behind:
  on Linux both run under ``setpriv --pdeathsig KILL`` and die with their parent, and the next
  browser start removes the profile directories of dead owners (``owner.pid``).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import http.server
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from typing import Any

import numpy as np
from embodied_rl.envs.gui.base import BACKENDS, Element, GuiAction, GuiBackend, Page, TargetError
from embodied_rl.envs.gui.miniwob_tasks import MINIWOB_TASKS, task_size
from miniwob.constants import DEFAULT_SCROLL_AMOUNT, DEFAULT_SCROLL_TIME, WEBDRIVER_SPECIAL_KEYS
from miniwob.dom import DOMElement
from miniwob.reward import get_original_reward, get_raw_reward
from miniwob.screenshot import get_screenshot, pil_to_numpy_array
from miniwob.selenium_actions import (
    execute_click_coords,
    execute_press_key,
    execute_scroll_coords,
    execute_type_text,
)
from miniwob.selenium_instance import HTML_DIR
from selenium import webdriver
from selenium.common.exceptions import (
    InvalidSessionIdException,
    JavascriptException,
    NoSuchWindowException,
    TimeoutException,
    UnexpectedAlertPresentException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service as ChromeService

__all__ = ["CHROME_FLAGS", "MiniWoBBackend", "find_browser", "miniwob_key"]

logger = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install chromium chromium-driver (or: make system-deps)"

CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    # Only loopback resolves ("MAP *" also maps IP literals, hence the 127.0.0.1 exclusion) ...
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
    # ... and anything else goes to a proxy on a closed port (loopback bypasses it).
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<loopback>",
)
"""Chromium flags of every backend browser: headless and kept off the network."""

WINDOW_SIZE = (600, 840)
"""Browser window: its viewport (~600x697) holds the 375x667 FlightWoB screen and the task screens."""

INTERACTIVE_TAGS = frozenset({"button", "textarea", "select", "label", "a"})
SKIPPED_TAGS = frozenset({"html", "body", "t"})

_READ_PAGE = """
// A finished episode shows the black "START" sync cover: hide it to show the task's last state.
if (WOB_DONE_GLOBAL && core.cover_div) core.cover_div.style.display = 'none';
var dom = core.getDOMInfo(), W = arguments[0], H = arguments[1], hidden = [];
// Hit-test each element at the center of its on-screen part, then at the centers of its four
// quarters: an element no point of which reaches it (clipped, covered) is hidden.
var FRACTIONS = [[0.5, 0.5], [0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]];
for (var ref in core.previousDOMInfo) {
  var el = core.previousDOMInfo[ref];
  if (!el || !el.getBoundingClientRect || el.ownerDocument !== document) continue;
  var r = el.getBoundingClientRect();
  var x0 = Math.max(r.left, 0), x1 = Math.min(r.right, W), y0 = Math.max(r.top, 0), y1 = Math.min(r.bottom, H);
  var seen = false;
  for (var i = 0; i < FRACTIONS.length && !seen && x1 > x0 && y1 > y0; i++) {
    var hit = document.elementFromPoint(x0 + FRACTIONS[i][0] * (x1 - x0), y0 + FRACTIONS[i][1] * (y1 - y0));
    seen = !!hit && (hit === el || el.contains(hit));
  }
  if (!seen) hidden.push(+ref);
}
return [core.getUtterance(), dom, hidden];
"""

_KEY_NAMES = {name[1:-1].lower(): name for name in WEBDRIVER_SPECIAL_KEYS}
_KEY_ALIASES = {
    "esc": "<Escape>",
    "return": "<Enter>",
    "del": "<Delete>",
    "up": "<ArrowUp>",
    "down": "<ArrowDown>",
    "left": "<ArrowLeft>",
    "right": "<ArrowRight>",
    "pgup": "<PageUp>",
    "pgdn": "<PageDown>",
}
_MODIFIERS = {
    "control": "C-",
    "ctrl": "C-",
    "shift": "S-",
    "alt": "A-",
    "option": "A-",
    "meta": "M-",
    "cmd": "M-",
    "command": "M-",
    "super": "M-",
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


_SERVER: http.server.ThreadingHTTPServer | None = None
_SERVER_LOCK = threading.Lock()


def _flight_server_url() -> str:
    """URL of a loopback HTTP server for miniwob's ``html/`` (FlightWoB pages need ``http://``).

    miniwob's own ``start_http_server``, minus its log line on stderr for every file served;
    one per process, on 127.0.0.1 (the only host the browser can reach).
    """
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None:
            handler = functools.partial(_QuietHandler, directory=str(HTML_DIR))
            _SERVER = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            _SERVER.daemon_threads = True
            threading.Thread(target=_SERVER.serve_forever, name="miniwob-http", daemon=True).start()
        return f"http://127.0.0.1:{_SERVER.server_address[1]}/"


PROFILE_PREFIX = "miniwob-chromium-"


def _remove_stale_profiles() -> None:
    """Remove the temporary profiles of backends whose process died without closing them."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        if not name.startswith(PROFILE_PREFIX):
            continue
        path = os.path.join(root, name)
        try:
            with open(os.path.join(path, "owner.pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)  # raises if no such process
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (OSError, ValueError):
            continue  # no marker (yet), or not ours to judge


def find_browser(chrome_binary: str | None = None, chromedriver: str | None = None) -> tuple[str, str]:
    """Paths of Chromium and chromedriver: the arguments, else ``MINIWOB_CHROME_BINARY`` /
    ``MINIWOB_CHROMEDRIVER``, else ``chromium`` / ``chromedriver`` on ``PATH``, else ``/usr/bin``.

    Raises:
        RuntimeError: one of them is not an executable file (the message says how to install).
    """
    binary = (
        chrome_binary
        or os.environ.get("MINIWOB_CHROME_BINARY")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or "/usr/bin/chromium"
    )
    driver = (
        chromedriver
        or os.environ.get("MINIWOB_CHROMEDRIVER")
        or shutil.which("chromedriver")
        or "/usr/bin/chromedriver"
    )
    missing = [
        f"{what} ({path})"
        for what, path in (("Chromium", binary), ("chromedriver", driver))
        if not (os.path.isfile(path) and os.access(path, os.X_OK))
    ]
    if missing:
        raise RuntimeError(
            f"the MiniWoB backend needs Chromium and chromedriver; not found: {', '.join(missing)}. "
            f"Install them with: {INSTALL_HINT}, or pass chrome_binary=/chromedriver= "
            "(or set MINIWOB_CHROME_BINARY and MINIWOB_CHROMEDRIVER)."
        )
    return binary, driver


def miniwob_key(key: str) -> str:
    """Our key name (``Enter``, ``Control+a``, ``Shift+Tab``) in miniwob's ``PRESS_KEY`` syntax.

    miniwob's :func:`~miniwob.selenium_actions.execute_press_key` takes modifier prefixes
    ``C-`` ``S-`` ``A-`` ``M-`` then a printable character or a ``<Special>`` key
    (``C-a``, ``S-<Tab>``, ``<Enter>``).

    Raises:
        TargetError: an unknown key or modifier name.
    """
    if len(key) == 1:
        return "<Space>" if key == " " else key
    parts = key.split("+")
    if key.endswith("++"):  # "Control++": the last key is "+" itself
        parts = [*key[:-2].split("+"), "+"]
    *mods, name = parts
    prefix = ""
    for mod in mods:
        code = _MODIFIERS.get(mod.strip().lower())
        if code is None:
            raise TargetError(f"unknown modifier {mod!r} in key {key!r}; use Control, Shift, Alt or Meta")
        prefix += code
    if len(name) == 1:
        return prefix + ("<Space>" if name == " " else name)
    lower = name.strip().lower()
    special = _KEY_NAMES.get(lower) or _KEY_ALIASES.get(lower)
    if special is None:
        raise TargetError(
            f"unknown key {name!r}; use a single character or a key name such as Enter, Tab, "
            "Backspace, Delete, Escape, Space, ArrowUp, ArrowDown, ArrowLeft, ArrowRight, Home, End, "
            "PageUp, PageDown"
        )
    return prefix + special


def _ref_ranges(refs: list[int]) -> str:
    """``[1, 2, 3, 5, 7, 8]`` -> ``"1-3, 5, 7-8"``."""
    refs = sorted(set(refs))
    spans: list[str] = []
    start = prev = None
    for ref in [*refs, None]:
        if ref is not None and prev is not None and ref == prev + 1:
            prev = ref
            continue
        if start is not None:
            spans.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = ref
    return ", ".join(spans)


def _inner_text(node: DOMElement) -> str:
    """An element's visible text: its own text for a leaf, else the text of its leaves joined."""
    if node.text is not None:
        return node.text.strip()
    parts = [_inner_text(child) for child in node.children]
    return " ".join(p for p in parts if p)


class _BrowserDied(RuntimeError):
    pass


@BACKENDS.register(
    "miniwob",
    description="MiniWoB++ task pages in a persistent, network-blocked headless Chromium (Selenium).",
    requires_binary="chromedriver",
    install=f"Install Chromium and its driver: {INSTALL_HINT}",
)
class MiniWoBBackend(GuiBackend):
    """MiniWoB++ tasks in one headless Chromium kept across episodes and tasks.

    The browser starts on the first :meth:`reset` (binaries are checked at construction). A reset
    on the task already loaded ends the episode and starts the next in the same page (~60 ms); a
    new task is loaded into the same browser. ``size`` is the current task's screen: 160x210, or
    375x667 for ``flight.*`` tasks.

    Elements are miniwob's DOM (``core.getDOMInfo``) flattened to the visible leaves with text
    and the interactive elements (buttons, inputs, textareas, selects, labels, links, MiniWoB's
    ``span.alink``), with miniwob's ``ref`` (``click_element`` runs ``core.elementClick``) and
    boxes in screenshot pixels, in document order.

    On Linux chromedriver and Chromium are killed when the thread that started them (the first
    :meth:`reset`) ends: use a backend from one long-lived thread, e.g. a worker's main thread.

    Args:
        episode_time_s: The page's episode time limit (``core.EPISODE_MAX_TIME``), set before
            every episode; miniwob's 10 s is too short for a model. It also scales
            ``Page.time_reward``.
        data_mode: ``core.setDataMode`` value (``"train"`` or ``"test"``; a few tasks, e.g. the
            flight ones, draw their instances from different sets).
        max_elements: At most this many elements are listed per page (document order).
        timeout_s: Selenium page-load and script timeouts, the bound on every driver command
            (plus 5 s) and on the browser's start.
        chrome_binary: Chromium executable (default: ``MINIWOB_CHROME_BINARY``, then
            ``chromium`` on ``PATH``, then ``/usr/bin/chromium``).
        chromedriver: chromedriver executable (default: ``MINIWOB_CHROMEDRIVER``, then
            ``chromedriver`` on ``PATH``, then ``/usr/bin/chromedriver``).
        settle_s: After an action, wait up to this long for the page's jQuery animations
            (accordions, dialogs, date pickers) to finish before reading the page, so the
            page a model sees is the one its next click lands on (0: do not wait).
        screenshots: False skips the screenshot (~45 ms of a ~70 ms step) and returns a white
            image of the right shape: for scripted runs that read only the elements.

    Raises:
        RuntimeError: Chromium or chromedriver is missing (at construction); the browser cannot
            start, crashed or stopped answering (in :meth:`reset` / :meth:`execute`; the next
            :meth:`reset` starts a fresh browser).
    """

    tasks = MINIWOB_TASKS

    def __init__(
        self,
        episode_time_s: float = 600.0,
        data_mode: str = "train",
        max_elements: int = 40,
        timeout_s: float = 20.0,
        chrome_binary: str | None = None,
        chromedriver: str | None = None,
        settle_s: float = 1.0,
        screenshots: bool = True,
    ) -> None:
        if episode_time_s <= 0:
            raise ValueError(f"episode_time_s must be > 0, got {episode_time_s}")
        if max_elements < 1:
            raise ValueError(f"max_elements must be >= 1, got {max_elements}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.episode_time_s = float(episode_time_s)
        self.data_mode = str(data_mode)
        self.max_elements = int(max_elements)
        self.timeout_s = float(timeout_s)
        self.settle_s = max(0.0, float(settle_s))
        self.screenshots = bool(screenshots)
        self.chrome_binary, self.chromedriver = find_browser(chrome_binary, chromedriver)
        # miniwob reads these; unset, Selenium would try to download a driver.
        os.environ["MINIWOB_CHROME_BINARY"] = self.chrome_binary
        os.environ["MINIWOB_CHROMEDRIVER"] = self.chromedriver
        self.size = task_size("click-test")
        self.driver: webdriver.Chrome | None = None
        self._service: ChromeService | None = None
        self._profile: str | None = None
        self._task: str | None = None  # the task whose page is loaded
        self._episode = False  # an episode has been started on the loaded page
        self._inner = (0, 0)  # viewport size, for the screenshot crop
        self._elements: list[Element] = []
        self._instruction = ""

    # ------------------------------------------------------------------ browser

    def _start_browser(self) -> None:
        """Start Chromium, bounded by ``timeout_s``; on Linux it dies with this process."""
        _remove_stale_profiles()
        self._profile = tempfile.mkdtemp(prefix=PROFILE_PREFIX)
        with open(os.path.join(self._profile, "owner.pid"), "w") as f:
            f.write(str(os.getpid()))
        profile = os.path.join(self._profile, "profile")
        options = webdriver.ChromeOptions()
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}")
        options.add_argument(f"--user-data-dir={profile}")
        options.binary_location = self._tied(self.chrome_binary, "chromium")
        service = self._service = ChromeService(executable_path=self._tied(self.chromedriver, "chromedriver"))
        expired = threading.Event()

        def watchdog() -> None:  # a hung start: kill chromedriver (and with it the browser)
            expired.set()
            self._kill_service(service)

        timer = threading.Timer(self.timeout_s, watchdog)
        timer.daemon = True
        timer.start()
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except Exception as err:
            self._kill_service(service)
            self._remove_profile()
            why = f"it did not start within {self.timeout_s:g} s" if expired.is_set() else err
            raise RuntimeError(f"could not start Chromium ({self.chrome_binary}) for MiniWoB: {why}") from err
        finally:
            timer.cancel()
        if expired.is_set():
            self._kill_service(service)
            self._remove_profile()
            raise RuntimeError(f"could not start Chromium for MiniWoB within {self.timeout_s:g} s")
        # Every command is bounded: scripts and page loads by the driver, the HTTP call by the client.
        driver.command_executor.client_config.timeout = self.timeout_s + 5
        driver.set_page_load_timeout(self.timeout_s)
        driver.set_script_timeout(self.timeout_s)
        self.driver = driver
        logger.debug("started Chromium for MiniWoB (profile %s)", profile)

    def _tied(self, executable: str, name: str) -> str:
        """``executable`` behind a wrapper that kills it when its parent dies (Linux ``setpriv``).

        chromedriver then dies with this process (or rather the thread that starts the browser),
        and Chromium with chromedriver: a worker killed without cleanup leaks no browser.
        Elsewhere, or without ``setpriv``, ``executable`` itself.
        """
        setpriv = shutil.which("setpriv")
        if not sys.platform.startswith("linux") or setpriv is None or self._profile is None:
            return executable
        wrapper = os.path.join(self._profile, name)
        with open(wrapper, "w") as f:
            f.write(
                f'#!/bin/sh\nexec {shlex.quote(setpriv)} --pdeathsig KILL {shlex.quote(executable)} "$@"\n'
            )
        os.chmod(wrapper, 0o700)
        return wrapper

    def _kill_service(self, service: ChromeService | None = None) -> None:
        """Kill chromedriver (the browser follows it where :meth:`_tied` applies)."""
        service = service or self._service
        self._service = None
        process = getattr(service, "process", None)
        if process is not None:
            with contextlib.suppress(Exception):
                process.kill()
                process.wait(timeout=5)

    def _remove_profile(self) -> None:
        profile, self._profile = self._profile, None
        if profile:
            shutil.rmtree(profile, ignore_errors=True)

    def task_size(self, task: str) -> tuple[int, int]:
        """``(width, height)`` of ``task``'s screen (375x667 for ``flight.*``, else 160x210)."""
        return task_size(task)

    def close(self) -> None:
        """Quit the browser and remove its profile directory (idempotent)."""
        driver, self.driver = self.driver, None
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # a dead browser cannot be quit
                self._kill_service()
        self._service = None
        self._remove_profile()
        self._task = None
        self._episode = False

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _call(self, what: str, fn, *args):
        """Run one driver call; a dead or hung browser becomes a clear RuntimeError."""
        if self.driver is None:
            raise RuntimeError("the MiniWoB browser is not running (call reset first)")
        try:
            return fn(*args)
        except JavascriptException as err:
            self._task = None  # reload the page on the next reset
            raise RuntimeError(f"MiniWoB page error while {what}: {err.msg}") from err
        except TimeoutException as err:
            self._task = None
            raise RuntimeError(
                f"the MiniWoB page did not answer within {self.timeout_s:g} s while {what}; "
                "it is reloaded on the next reset"
            ) from err
        except UnexpectedAlertPresentException as err:  # core.js alerts when it cannot read the DOM
            with contextlib.suppress(Exception):
                self.driver.switch_to.alert.dismiss()
            self._task = None
            raise RuntimeError(f"MiniWoB page error while {what}: alert {err.alert_text!r}") from err
        except (InvalidSessionIdException, NoSuchWindowException) as err:
            self._died()
            raise RuntimeError(f"the MiniWoB browser died while {what}: {err.msg}") from err
        except WebDriverException as err:
            # "chrome not reachable", "tab crashed", "session deleted", ...
            self._died()
            raise RuntimeError(f"the MiniWoB browser failed while {what}: {err.msg}") from err
        except Exception as err:
            if isinstance(err, OSError) or type(err).__module__.startswith(("urllib3", "http.client")):
                self._died()
                raise RuntimeError(f"lost the MiniWoB browser while {what}: {err!r}") from err
            raise

    def _died(self) -> None:
        """Forget a dead browser: the next reset starts a fresh one."""
        logger.warning("the MiniWoB browser died or stopped answering; the next reset starts a new one")
        with contextlib.suppress(Exception):
            self.close()

    def _script(self, what: str, script: str, *args):
        return self._call(what, self.driver.execute_script, script, *args)

    # ------------------------------------------------------------------ tasks

    def _url(self, task: str) -> str:
        if task.startswith("flight."):
            return urllib.parse.urljoin(_flight_server_url(), task.replace(".", "/") + "/wrapper.html")
        return (HTML_DIR / "miniwob" / f"{task}.html").as_uri()

    def _task_name(self, task: str) -> str:
        name = task
        if name.startswith("miniwob/"):
            name = name[len("miniwob/") :]
            name = name[: -len("-v1")] if name.endswith("-v1") else name
        if name not in self.tasks:
            close = difflib.get_close_matches(name, self.tasks, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"unknown MiniWoB task {task!r}.{hint}")
        return name

    def _load(self, task: str) -> None:
        """Load ``task``'s page into the browser and wait for its sync screen."""
        self._task = None
        self._episode = False
        self._call(f"loading {task}", self.driver.get, self._url(task))
        deadline = time.monotonic() + self.timeout_s
        while not self._script(
            f"loading {task}",
            "return typeof core !== 'undefined' && !!document.getElementById('sync-task-cover');",
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the MiniWoB page of {task} did not load within {self.timeout_s:g} s")
            time.sleep(0.02)
        width, height = task_size(task)
        inner = self._script(f"loading {task}", "return [window.innerWidth, window.innerHeight];")
        if inner[0] < width or inner[1] < height:
            raise RuntimeError(
                f"the browser viewport {inner} is smaller than {task}'s {width}x{height} screen"
            )
        self._inner = (int(inner[0]), int(inner[1]))
        self._task = task
        self.size = (width, height)

    # ------------------------------------------------------------------ contract

    def reset(self, task: str, seed: int) -> Page:
        """Start an instance of ``task`` seeded with ``seed`` (``Math.seedrandom``, as miniwob)."""
        task = self._task_name(task)
        if self.driver is None:
            self._start_browser()
        if task != self._task:
            self._load(task)
        seed_js = json.dumps(int(seed)) if seed is not None else "undefined"
        # miniwob's SeleniumInstance.reset: end the episode (if any), seed, data mode, start.
        self._script(
            f"resetting {task}",
            "core.endEpisode(0);"
            f"if ({seed_js} !== undefined) Math.seedrandom({seed_js});"
            "core.setDataMode(arguments[0]);"
            "core.EPISODE_MAX_TIME = arguments[1];"
            "core.startEpisodeReal();",
            self.data_mode,
            round(self.episode_time_s * 1000),
        )
        deadline = time.monotonic() + self.timeout_s
        while not self._script(f"resetting {task}", "return WOB_TASK_READY;"):
            if time.monotonic() > deadline:
                self._task = None
                raise RuntimeError(f"the MiniWoB task {task} was not ready within {self.timeout_s:g} s")
            time.sleep(0.02)
        self._episode = True
        return self._observe()

    def execute(self, action: GuiAction) -> Page:
        """Apply ``action`` to the page; the returned page reports ``done`` and the rewards.

        ``click`` -> CLICK_COORDS, ``click_element`` -> CLICK_ELEMENT (``core.elementClick``),
        ``type`` -> TYPE_TEXT, ``press`` -> PRESS_KEY, ``scroll`` -> SCROLL_UP/DOWN_COORDS.

        Raises:
            TargetError: an unknown ref, a point outside the screen, an unknown key.
            RuntimeError: no episode started, or the browser died.
        """
        if self.driver is None or not self._episode:
            raise RuntimeError("call reset before execute")
        meta = self._metadata()
        if meta["done"]:  # timed out in the page, or already finished
            return self._observe(meta)
        driver = self.driver
        kind = action.kind
        if kind in ("click", "scroll"):
            x, y = self._point(action)
            if kind == "click":
                self._call("clicking", execute_click_coords, x, y, driver)
            else:
                direction = (action.direction or "down").lower()
                if direction not in ("up", "down"):
                    raise TargetError(f"scroll direction must be 'up' or 'down', got {action.direction!r}")
                amount = DEFAULT_SCROLL_AMOUNT if direction == "down" else -DEFAULT_SCROLL_AMOUNT
                self._call("scrolling", execute_scroll_coords, x, y, amount, DEFAULT_SCROLL_TIME, driver)
        elif kind == "click_element":
            refs = [el.ref for el in self._elements]
            if action.ref not in refs:
                valid = _ref_ranges(refs) if refs else "none (the page lists no elements)"
                raise TargetError(f"no element [{action.ref}] on this page; valid refs: {valid}")
            result = self._script(
                "clicking an element", "return core.elementClick(arguments[0]);", action.ref
            )
            if result is not True:
                raise TargetError(f"click_element({action.ref}) failed: {result}")
        elif kind == "type":
            if not action.text:
                raise TargetError("type needs non-empty text")
            self._call("typing", execute_type_text, action.text, driver)
        elif kind == "press":
            if not action.key:
                raise TargetError("press needs a key")
            self._call("pressing a key", execute_press_key, miniwob_key(action.key), driver)
        else:
            raise TargetError(f"the MiniWoB backend cannot execute {kind!r}")
        return self._observe(self._metadata(settle=True))

    # ------------------------------------------------------------------ observation

    def _point(self, action: GuiAction) -> tuple[float, float]:
        width, height = self.size
        x, y = action.x, action.y
        if x is None or y is None or not (0 <= x < width and 0 <= y < height):
            raise TargetError(f"({x}, {y}) is outside the {width}x{height} screen")
        return float(x), float(y)

    def _metadata(self, settle: bool = False) -> dict[str, Any]:
        """The episode's ``done`` and rewards; with ``settle``, after jQuery animations end."""
        deadline = time.monotonic() + self.settle_s
        while True:
            meta = self._script(
                "reading the reward",
                "return {done: WOB_DONE_GLOBAL, env_reward: WOB_REWARD_GLOBAL,"
                " raw_reward: WOB_RAW_REWARD_GLOBAL, reason: WOB_REWARD_REASON,"
                " animated: arguments[0] && !WOB_DONE_GLOBAL && !!window.jQuery"
                " && window.jQuery(':animated').length > 0};",
                settle,
            )
            if not meta.get("animated") or time.monotonic() > deadline:
                return meta
            time.sleep(0.02)

    def _observe(self, meta: dict[str, Any] | None = None) -> Page:
        """The page now: instruction, screenshot, elements, done and rewards."""
        meta = meta if meta is not None else self._metadata()
        done = bool(meta["done"])
        width, height = self.size
        utterance, dom, hidden = self._script("reading the page", _READ_PAGE, width, height)
        if isinstance(utterance, dict):  # flight tasks: {"utterance": ..., "fields": ...}
            utterance = utterance.get("utterance", "")
        self._instruction = str(utterance)
        self._elements = self._flatten(DOMElement(dom), set(hidden))
        if self.screenshots:
            image = self._call(
                "taking a screenshot",
                get_screenshot,
                self.driver,
                self._inner[0],
                self._inner[1],
                width,
                height,
            )
            screenshot = pil_to_numpy_array(image)
        else:
            screenshot = np.full((height, width, 3), 255, dtype=np.uint8)
        return Page(
            instruction=self._instruction,
            screenshot=np.ascontiguousarray(screenshot[:, :, :3]),
            elements=list(self._elements),
            done=done,
            reward=get_raw_reward(meta) if done else 0.0,
            time_reward=get_original_reward(meta) if done else 0.0,
        )

    def _flatten(self, root: DOMElement, hidden: set[int]) -> list[Element]:
        """Visible leaves with text and interactive elements, in document order, capped.

        Visible: a box of at least 2x2 px on the screen, the center of whose on-screen part (or of
        one of its quarters) hits the element or a descendant: not clipped by a scrolled list,
        not entirely covered by a dialog or another element.
        """
        width, height = self.size
        out: list[Element] = []
        stack = [root]
        while stack and len(out) < self.max_elements:
            node = stack.pop()
            stack.extend(reversed(node.children))
            tag = node.tag
            if tag in SKIPPED_TAGS or node.width < 2 or node.height < 2:  # 1x1: screen-reader only
                continue
            if node.left >= width or node.top >= height or node.right <= 0 or node.bottom <= 0:
                continue  # outside the screenshot
            if node.ref in hidden:
                continue  # clipped or covered
            classes = node.classes if isinstance(node.classes, str) else ""
            interactive = (
                tag in INTERACTIVE_TAGS
                or tag.startswith("input_")
                or (tag == "span" and "alink" in classes.split())
            )
            text = _inner_text(node) if interactive else (node.text or "").strip()
            if not interactive and not (node.is_leaf and text):
                continue
            value = node.value
            out.append(
                Element(
                    ref=int(node.ref),
                    tag=tag,
                    text=text,
                    left=float(node.left),
                    top=float(node.top),
                    width=float(node.width),
                    height=float(node.height),
                    value=value if isinstance(value, str) else "",
                    focused=bool(node.focused),
                    checked=value if isinstance(value, bool) else None,
                    classes=classes,
                )
            )
        return out
