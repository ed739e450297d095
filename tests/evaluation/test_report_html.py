"""The self-contained HTML report and comparison pages (embodied_rl.evaluation.html)."""

from __future__ import annotations

import os
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from embodied_rl.evaluation.compare import compare_reports
from embodied_rl.evaluation.html import render_comparison, render_report
from embodied_rl.evaluation.results import SUITE_ROW, EpisodeRecord, EvalReport, TaskResult

EVIL = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """Collects the tags the tests look at."""

    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self.videos: list[dict[str, str | None]] = []
        self.scripts = 0
        self.sections = 0
        self.rows: dict[str, int] = {}
        self.cell_classes: dict[str, list[str]] = {}
        self._table: str | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        elif tag == "a":
            self.links.append(a)
        elif tag == "video":
            self.videos.append(a)
        elif tag == "script":
            self.scripts += 1
        elif tag == "section" and "task" in (a.get("class") or "").split():
            self.sections += 1
        elif tag == "table":
            self._table = a.get("id")
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table and self._in_body:
            self.rows[self._table] = self.rows.get(self._table, 0) + 1
        elif tag == "td" and self._table:
            self.cell_classes.setdefault(self._table, []).append(a.get("class") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "tbody":
            self._in_body = False


def _parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return text, page


def _png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def _report(out: Path, partial: bool = False, missing_thumb: bool = False) -> EvalReport:
    """Two tasks (one with a hostile name), thumbnails and a learning curve under ``out``."""
    tasks = []
    for t, (name, outcomes) in enumerate(
        [("reach", [True, False, True, True]), (EVIL, [False, False, True])]
    ):
        episodes = []
        for i, success in enumerate(outcomes):
            thumb = f"thumbs/task{t}/seed{i}.png"
            if not (missing_thumb and t == 1 and i == 0):
                _png(out / thumb, (0, 160, 0) if success else (200, 0, 0))
            episodes.append(
                EpisodeRecord(
                    seed=i,
                    episode_return=1.5 * i,
                    length=10 + i,
                    success=success,
                    instruction=f"pick up the {EVIL} block" if t == 1 else "reach the goal",
                    video=f"videos/task{t}/seed{i}.mp4",
                    thumbnail=thumb,
                )
            )
        tasks.append(
            TaskResult(
                name=name,
                env=f"Env{t}-v0",
                planned=4,
                episodes=episodes,
                grid_video="videos/task0/grid.mp4" if t == 0 else None,
            )
        )
    _png(out / "curves/return.png", (40, 90, 200), (64, 40))
    return EvalReport(
        policy=f"runs/{EVIL}/policy.safetensors",
        tasks=tasks,
        suite="toy",
        protocol="seeds 0..3 per task",
        seed=0,
        episodes_per_task=4,
        num_envs=2,
        partial=partial,
        created="2025-01-01T00:00:00",
        wall_time_s=75.0,
        versions={"embodied-rl": "0.1.0"},
        curves=["curves/return.png"],
        notes=[f"videos for {EVIL} were not written"],
    )


def test_report_structure_embedding_and_escaping(tmp_path: Path) -> None:
    report = _report(tmp_path)
    _png(tmp_path / "success.png", (90, 90, 90))
    report.save(tmp_path)
    path = render_report(report, tmp_path, success_plot="success.png")
    assert path == tmp_path / "report.html"
    text, page = _parse(path)

    # 2 task rows + the suite row, one section per task
    assert page.rows["results"] == 3
    assert SUITE_ROW in text
    assert page.sections == 2
    assert "3 of 4" in text  # the incomplete task

    # every image is embedded: 7 thumbnails + 1 curve + the success plot
    assert len(page.imgs) == 9
    assert all((img["src"] or "").startswith("data:image/png;base64,") for img in page.imgs)

    # thumbnails link to the relative episode videos; the grid video plays from a relative path
    hrefs = {a.get("href") for a in page.links}
    for task in report.tasks:
        for e in task.episodes:
            assert e.video in hrefs
    assert [v.get("src") for v in page.videos] == ["videos/task0/grid.mp4"]
    assert "preload" in page.videos[0] and page.videos[0]["preload"] == "none"
    assert {"results.json", "results.csv", "episodes.csv", "results.md"} <= hrefs
    assert not any((h or "").startswith(("/", "file:", "http")) for h in hrefs)

    # user data is escaped, and the page has no script at all
    assert page.scripts == 0
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text

    # success / failure are marked, and the page is not partial
    assert "SUCCESS" in text and "FAILURE" in text
    assert 'class="episode success"' in text and 'class="episode failure"' in text
    assert "partial-banner" not in text
    assert "PARTIAL" not in text


def test_report_partial_banner_and_missing_images(tmp_path: Path) -> None:
    report = _report(tmp_path, partial=True, missing_thumb=True)
    path = render_report(report, tmp_path, success_plot="no_such_plot.svg", name="r.html")
    text, page = _parse(path)
    banner = re.search(r'<div[^>]*id="partial-banner"[^>]*>(.*?)</div>', text, re.S)
    assert banner is not None and "partial" in banner.group(1).lower()
    # the missing thumbnail and the missing plot are noted, the rest still embedded
    assert "image not found: thumbs/task1/seed0.png" in text
    assert "image not found: no_such_plot.svg" in text
    assert len(page.imgs) == 7
    assert all((img["src"] or "").startswith("data:") for img in page.imgs)
    # the video link of the episode without a thumbnail stays
    assert "videos/task1/seed0.mp4" in {a.get("href") for a in page.links}
    # data files are only linked when they exist
    assert "results.json" not in {a.get("href") for a in page.links}


def test_report_single_task_svg_and_no_success_info(tmp_path: Path) -> None:
    (tmp_path / "plot.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    )
    task = TaskResult(name="CartPole-v1", env="CartPole-v1", planned=2)
    task.episodes = [EpisodeRecord(seed=s, episode_return=float(s), length=5) for s in (0, 1)]
    report = EvalReport(policy="scripted:random", tasks=[task], episodes_per_task=2)
    text, page = _parse(render_report(report, tmp_path, success_plot="plot.svg"))
    assert page.rows["results"] == 1  # no suite row for one task
    assert SUITE_ROW not in text
    assert [img["src"][:26] for img in page.imgs] == ["data:image/svg+xml;base64,"]
    assert "NO SUCCESS INFO" in text


def _seeded(policy: str, outcomes: list[bool], returns: list[float] | None = None) -> EvalReport:
    returns = returns or [(1.0 if s else 0.0) + 0.01 * (i % 3) for i, s in enumerate(outcomes)]
    episodes = [
        EpisodeRecord(seed=i, episode_return=r, length=10, success=s)
        for i, (s, r) in enumerate(zip(outcomes, returns, strict=True))
    ]
    task = TaskResult(name=EVIL, env="Env-v0", planned=len(outcomes), episodes=episodes)
    return EvalReport(policy=policy, tasks=[task], episodes_per_task=len(outcomes))


def test_comparison_marks_significant_differences(tmp_path: Path) -> None:
    sft = _seeded("sft.safetensors", [False] * 20)
    ppo = _seeded("ppo.safetensors", [True] * 20)
    comparison = compare_reports([sft, ppo], ["sft", "ppo"])
    comparison.warnings.append(f"a warning about {EVIL}")
    _png(tmp_path / "compare.png", (10, 10, 10))
    comparison.save(tmp_path)
    path = render_comparison(comparison, tmp_path, success_plot="compare.png")
    assert path == tmp_path / "comparison.html"
    text, page = _parse(path)
    assert page.rows["success"] == 1 and page.rows["returns"] == 1
    assert page.rows["runs"] == 2
    for table in ("success", "returns"):
        classes = page.cell_classes[table]
        assert len(classes) == 3  # task + 2 runs
        assert "significant" in classes[2].split()
        assert "significant" not in classes[1].split()
    assert "+100.0 pp" in text and "McNemar" in text
    assert "<strong>*</strong>" in text
    assert "<script>alert" not in text and page.scripts == 0
    assert "a warning about &lt;script&gt;" in text
    assert "Welch" in text and "McNemar test" in text  # the legend
    assert [img["src"][:22] for img in page.imgs] == ["data:image/png;base64,"]
    assert {"comparison.json", "comparison.csv", "comparison.md"} <= {a.get("href") for a in page.links}


def test_comparison_equal_runs_are_not_marked(tmp_path: Path) -> None:
    outcomes = [i % 2 == 0 for i in range(20)]
    a = _seeded("a", outcomes)
    b = _seeded("b", outcomes)
    other = _seeded("c", outcomes)
    other.tasks[0].name = "only-in-c"
    comparison = compare_reports([a, b, other], ["a", "b", "c"])
    text, page = _parse(render_comparison(comparison, tmp_path))
    assert not any("significant" in c.split() for t in ("success", "returns") for c in page.cell_classes[t])
    assert "<strong>*</strong>" not in text
    assert "n/a" in text  # tasks missing from a run
    assert page.rows["success"] == 3  # 2 tasks + suite row
    assert page.imgs == []


def _find(name: str, fallback: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return fallback if os.access(fallback, os.X_OK) else None


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium = _find("chromium", "/usr/bin/chromium")
    chromedriver = _find("chromedriver", "/usr/bin/chromedriver")
    if chromium is None or chromedriver is None:
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    out = tmp_path / "eval"
    report = _report(out, missing_thumb=True)
    _png(out / "success.png", (90, 90, 90), (120, 60))
    path = render_report(report, out, success_plot="success.png")
    expected_images = 6 + 1 + 1  # thumbnails that exist, the curve, the plot

    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
        "--window-size=1280,2000",
    ):
        options.add_argument(arg)
    start = time.monotonic()
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        driver.set_page_load_timeout(30)
        driver.get(path.as_uri())
        state = driver.execute_script(
            """
            const imgs = Array.from(document.images);
            return {
              rows: document.querySelectorAll('#results tbody tr').length,
              sections: document.querySelectorAll('section.task').length,
              images: imgs.length,
              loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
              scripts: document.scripts.length,
              title: document.title,
              width: document.documentElement.scrollWidth,
            };
            """
        )
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    elapsed = time.monotonic() - start

    assert state["rows"] == 3
    assert state["sections"] == 2
    assert state["images"] == expected_images
    assert state["loaded"] == expected_images
    assert state["scripts"] == 0
    assert EVIL in state["title"]  # escaped in the HTML, shown as text
    assert state["width"] <= 1280  # no horizontal overflow at desktop width
    std = ImageStat.Stat(Image.open(shot).convert("L")).stddev[0]
    assert std > 5, f"screenshot looks blank (pixel std {std:.2f})"
    assert elapsed < 20, f"browser check took {elapsed:.1f} s"
