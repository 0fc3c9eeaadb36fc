"""Refresh reports/example/ (what README links) from a finished ``nvs-eval demo`` output.

    .venv/bin/nvs-eval demo --out /tmp/demo
    .venv/bin/python reports/update_example.py /tmp/demo

Copies the tables (Markdown, LaTeX, CSV), the results' summaries, the astronaut scene's first comparison figure
(its worst view), curves and distribution and the statistics page's interval figure, then takes the three
screenshots README shows with headless Chromium at 1,280 x 800 (Debian's ``chromium`` and ``chromium-driver``,
as the report's browser tests use them): the index, the astronaut scene page and the statistics page, each as its
first screen shows it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent / "example"
SCENE = "astronaut"
WIDTH, HEIGHT = 1280, 800


def _copy_files(demo: Path) -> None:
    report, results = demo / "report", demo / "results"
    for name in ("tables.md", "tables.tex", "tables_document.tex"):
        shutil.copyfile(report / name, EXAMPLE / name)
    for name in ("summary.csv", "scene_summary.csv"):
        shutil.copyfile(results / name, EXAMPLE / name)
    shutil.rmtree(EXAMPLE / "csv", ignore_errors=True)
    shutil.copytree(report / "csv", EXAMPLE / "csv")
    page = _scene_page(report)
    html = page.read_text(encoding="utf-8")
    compare = re.search(r'src="\.\./(figures/[^"]*/compare-[^"]*\.jpg)"', html).group(1)  # the first: the worst
    figures = EXAMPLE / "figures"
    shutil.copyfile(report / compare, figures / f"{SCENE}-worst-view.jpg")
    folder = (report / compare).parent
    shutil.copyfile(folder / "curves.png", figures / f"{SCENE}-curves.png")
    shutil.copyfile(folder / "distribution.png", figures / f"{SCENE}-distribution.png")
    (stats,) = (report / "figures").glob("stats-*.png")
    shutil.copyfile(stats, figures / "statistics-intervals.png")


def _scene_page(report: Path) -> Path:
    pages = sorted((report / "scenes").glob(f"*_{SCENE}-*.html"))
    if len(pages) != 1:
        sys.exit(f"{report}: expected one {SCENE} scene page, found {len(pages)}")
    return pages[0]


def _screenshots(report: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage",
                 f"--window-size={WIDTH},{HEIGHT}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    try:
        for page, name in ((report / "index.html", "index"), (_scene_page(report), "scene"),
                           (report / "stats.html", "stats")):
            driver.get(page.as_uri())
            driver.execute_script("return document.fonts.ready")
            driver.save_screenshot(str(EXAMPLE / "figures" / f"html-report-{name}.png"))
    finally:
        driver.quit()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("demo", type=Path, help="the folder `nvs-eval demo --out` wrote")
    args = p.parse_args()
    if not (args.demo / "report" / "index.html").is_file():
        sys.exit(f"{args.demo}: not a finished `nvs-eval demo` output (no report/index.html)")
    _copy_files(args.demo)
    _screenshots(args.demo / "report")
    print(f"refreshed {EXAMPLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
