"""Reports: summary table and comparisons (unit), and the real workflow's report pages rendered in headless Chromium.

The end-to-end part runs Snakemake on three tiny Fashion-MNIST experiments (widths 2 and 3, a second
seed of width 2 compared by cross-run CKA), then opens every page in Chromium (Debian packages
chromium, chromium-driver; installed by `scripts/install.sh --test`) and asserts that every image
loads and every local link resolves.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from support.configs import report_raw
from support.workflow import copy_run, planned_jobs, snakemake, write_config

from repdyn.report.summary import cell

LAYERS = ["conv1", "layer1", "layer2", "layer3", "layer4", "linear"]
EXPERIMENTS = ["w2", "w2-seed1", "w3"]
# The index covers every experiment run in the directory: the report run starts from a copy of tiny_run, whose
# experiment comes after the config's own.
INDEXED = [*EXPERIMENTS, "tiny"]


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def reported(reported_run):
    """The three tiny experiments run to their reports (a session fixture: other test modules read the same run)."""
    return reported_run


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("chromium / chromium-driver not installed (scripts/install.sh --test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    yield browser
    browser.quit()


def pages(work: Path) -> list[Path]:
    return [
        work / "reports" / "index.html",
        *(work / "reports" / "experiments" / n / "index.html" for n in EXPERIMENTS),
    ]


@pytest.mark.slow
def test_every_page_renders_with_all_images_loaded(reported, browser):
    work, _ = reported
    for page in pages(work):
        browser.get(page.as_uri())
        assert browser.title.startswith("repdyn report"), page
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
        )
        if page.parent.name == "reports":  # the comparison figures and one panel thumbnail per experiment
            expected = len(list((work / "reports" / "compare").glob("*.png"))) + len(INDEXED)
        else:  # errors, 3 CKA, 4 DRS and 2 two-point figures, one per decision-region plane, 2 per cross-run comparison
            doc = json.loads((page.parent / "report.json").read_text())
            expected = 10 + len(doc["regions"]) + 2 * len(doc["cross"])
        assert len(images) == expected, (page, images)
        broken = [src for src, complete, width in images if not (complete and width > 0)]
        assert not broken, f"{page}: images that did not load: {broken}"
        links = browser.execute_script("return Array.from(document.links).map(a => a.href)")
        local = [Path(unquote(urlparse(href).path)) for href in links if href.startswith("file:")]
        assert local and not [p for p in local if not p.exists()], (
            f"{page}: dead links {[p for p in local if not p.exists()]}"
        )


@pytest.mark.slow
def test_experiment_page_shows_ids_phases_transitions_and_stores(reported, browser):
    work, _ = reported
    index = json.loads((work / "results" / "index.json").read_text())["experiments"]["w2"]
    page = work / "reports" / "experiments" / "w2" / "index.html"
    browser.get(page.as_uri())
    text = browser.find_element("tag name", "body").text
    for ident in (index["data"]["id"], index["train"]["id"], index["cka"]["id"], index["drs"]["id"]):
        assert ident in text
    for heading in (
        "Contents",
        "CKA similarity blocks",
        "DRS similarity blocks",
        "CKA to initialisation",
        "Decision regions",
        "Cross-run CKA against w2-seed1",
        "Per layer",
        "Artifacts, ids and settings",
    ):
        assert heading in text, heading
    hrefs = browser.execute_script("return Array.from(document.links).map(a => a.href)")
    assert any(h.rstrip("/").endswith("cka.zarr") for h in hrefs) and any(
        h.rstrip("/").endswith("drs.zarr") for h in hrefs
    )
    report = json.loads((page.parent / "report.json").read_text())
    assert report["layers"] == LAYERS and set(report["cka"]) == set(LAYERS)
    # decision regions of planes 0 and 1 at the DRS grid's first and last epochs (0, 2), phases merged into them
    assert [r["plane"] for r in report["regions"]] == [0, 1]
    assert sorted(report["regions"][0]["epochs"]) == ["0", "2"] and report["regions"][0]["epochs"]["2"].endswith("end")
    for layer in LAYERS:
        blocks = report["cka"][layer]["blocks"]
        assert blocks["starts"][0] == 0 and len(blocks["ranges"]) == len(blocks["transitions"]) + 1
        init = report["cka"][layer]["init"]
        assert init["epochs"] == [0, 1, 2] and init["values"][0] == pytest.approx(1.0)


# Everything a page shows must fit its width: a table, heading or figure wider than its box is cut off (or
# scrolls inside it), which is how wide tables hid columns before.
OVERFLOWING = """return Array.from(document.querySelectorAll('table, h1, h2, h3, figcaption, p, nav'))
    .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > window.innerWidth + 1)
    .map(e => e.tagName + ': ' + e.innerText.slice(0, 60))"""


@pytest.mark.slow
def test_pages_lead_with_the_answer_and_nothing_is_cut_off(reported, browser, tmp_path):
    work, _ = reported
    browser.set_window_size(1280, 1000)
    index = work / "reports" / "index.html"
    browser.get(index.as_uri())
    browser.save_screenshot(str(tmp_path / "index.png"))
    assert (tmp_path / "index.png").stat().st_size > 10_000
    assert browser.execute_script(OVERFLOWING) == []
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    cards = browser.execute_script("""return Array.from(document.querySelectorAll('section.card')).map(c => [
        c.querySelector('h3').innerText, c.querySelector('img.thumb').naturalWidth, c.querySelector('p').innerText,
        c.querySelectorAll('table tbody tr').length])""")
    assert [c[0] for c in cards] == INDEXED
    for name, width, events, rows in cards:
        assert width > 0 and rows == len(LAYERS), name
        assert events.startswith(f"{4 if name == 'tiny' else 2} epochs · ") and "double-descent peak" in events
    # the cards come before the comparisons, and the findings slot (empty without findings) before the cards
    order = browser.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.id)")
    assert order.index("experiments") < order.index("comparisons")

    page = work / "reports" / "experiments" / "w2" / "index.html"
    browser.get(page.as_uri())
    browser.save_screenshot(str(tmp_path / "experiment.png"))
    assert browser.execute_script(OVERFLOWING) == []
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    sections = browser.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.id)")
    toc = browser.execute_script("return Array.from(document.querySelectorAll('nav.toc a')).map(a => a.hash)")
    assert toc == [f"#{s}" for s in sections]  # the contents list every section, in page order
    assert sections[:3] == ["events", "cka", "drs"] and sections[-1] == "artifacts"
    assert sections.index("findings") < sections.index("summary")


@pytest.mark.slow
def test_summary_table_has_a_row_per_experiment_and_layer(reported):
    work, _ = reported
    with open(work / "reports" / "summary.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert [(r["experiment"], r["layer"]) for r in rows] == [(e, layer) for e in INDEXED for layer in LAYERS]
    for r in rows:
        report = json.loads((work / "reports" / "experiments" / r["experiment"] / "report.json").read_text())
        assert r["perfect_fit_epoch"] == cell(report["phases"]["perfect_fit_epoch"])
        assert 0.0 <= float(r["mean_offdiag_cka"]) <= 1.0 and 0.0 <= float(r["mean_offdiag_drs"]) <= 1.0
        assert int(r["cka_blocks"]) >= 1
        first = report["cka"]["conv1"]["init"]["values"][-1]
        assert float(r["first_layer_cka_to_init_end"]) == pytest.approx(first, rel=1e-3)


@pytest.mark.slow
def test_index_compares_experiments_and_draws_the_width_study(reported):
    work, _ = reported
    compare = work / "reports" / "compare"
    for stem in ("cka_conv1", "drs_linear", "cka_init_layer4", "width_study", "cross_conv1"):
        for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
            assert (compare / f"{stem}.{fmt}").read_bytes()[:4] == magic, f"{stem}.{fmt}"


@pytest.mark.slow
def test_a_report_follows_its_results_and_nothing_else(reported, tmp_path):
    # on a copy: the other worker reads the shared run's report pages meanwhile (snakemake --report)
    work = copy_run(reported[0], tmp_path / "w")
    cfg = work / reported[1].name
    assert planned_jobs(work, cfg) == {}
    # report settings enter no id: they rebuild the reports and nothing else
    tuned = report_raw()
    tuned["report"] = {"block_penalty": 0.5, "init_tolerance": 0.05}
    assert planned_jobs(work, write_config(work, tuned, "tuned.yaml")) == {
        "report_experiment": 3,
        "report_index": 1,
        "all": 1,
    }
    shutil.rmtree(work / "reports" / "experiments" / "w3")
    assert planned_jobs(work, cfg) == {"report_experiment": 1, "report_index": 1, "all": 1}
    snakemake(work, cfg)
    assert (work / "reports" / "experiments" / "w3" / "index.html").is_file()


@pytest.mark.slow
def test_index_reports_the_seed_replicate_group(reported):
    from repdyn.report.replicates import COLUMNS as REPLICATE_COLUMNS

    work, _ = reported
    lines = (work / "reports" / "compare" / "replicates.tsv").read_text().splitlines()
    assert lines[0].split("\t") == list(REPLICATE_COLUMNS)
    assert lines[1:] and all(line.startswith("w2 / w2-seed1\t") for line in lines[1:])  # w3 differs in width
    assert any("\tcka_blocks\tlayer4\t" in line for line in lines)
    assert "Seed replicates" in (work / "reports" / "index.html").read_text()
