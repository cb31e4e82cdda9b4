"""The web page in a real (headless) Chromium against a real server: search with explain and
filters, the detail panel with similar items, the evaluation charts, and the API key prompt.

What the page shows is checked against what the API answers for the same request, so the page
cannot drift from the data. Screenshots go to ``tests/e2e/artifacts/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips, or fails on CI, saying what is missing
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e

QUERY = "join file paths"
MS = re.compile(r"^\d+(\.\d+)? ms$")


def settle(page: Any, action: Callable[[], object]) -> str:
    """Do ``action``, which starts a search, and wait until its answer is shown; returns the
    results' state ("done" or "error")."""
    results = page.get_by_test_id("results")
    before = results.get_attribute("data-seq")
    action()
    page.wait_for_function(
        "before => (document.querySelector('[data-testid=results]').dataset.seq || null)"
        " !== before",
        arg=before,
    )
    return results.get_attribute("data-state")


def search(page: Any, query: str, mode: str) -> None:
    expect(page.get_by_test_id("search-button")).to_be_enabled()  # a collection is loaded
    page.get_by_test_id("mode-select").select_option(mode)
    page.get_by_test_id("search-input").fill(query)
    assert settle(page, page.get_by_test_id("search-button").click) == "done"


def api_response(server: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{server}/collections/docs/search", json={"k": 10, **body})
    response.raise_for_status()
    out: dict[str, Any] = response.json()
    return out


def api_search(server: str, **body: Any) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = api_response(server, **body)["hits"]
    return hits


def shown_ids(page: Any) -> list[str]:
    return [hit.get_attribute("data-id") for hit in page.get_by_test_id("hit").all()]


def chip_values(page: Any, attribute: str) -> list[str]:
    chips = page.locator(f"[data-testid=hit] [data-testid=chip][data-attr={attribute}]")
    return [chip.get_attribute("data-value") for chip in chips.all()]


def number(text: str) -> float:
    return float(text.removeprefix("#"))


def test_search_with_explain_and_filters(
    page: Any, console: Any, server: str, artifacts: Path
) -> None:
    page.goto(server)
    page.get_by_test_id("collection-select").select_option("docs")
    expect(page.get_by_test_id("collection-info")).to_contain_text("1,500 items")

    search(page, QUERY, "lexical")
    hits = page.get_by_test_id("hit")
    assert shown_ids(page) == [h["id"] for h in api_search(server, query=QUERY, mode="lexical")]
    assert "join" in hits.first.get_by_test_id("hit-title").inner_text()
    expect(hits.first.locator("mark").first).to_be_visible()  # the query's words are marked

    # Mode and explain changes run the search again; explain needs both retrievers: hybrid.
    assert (
        settle(page, lambda: page.get_by_test_id("mode-select").select_option("hybrid")) == "done"
    )
    assert settle(page, page.get_by_test_id("explain-toggle").check) == "done"
    answer = api_response(server, query=QUERY, mode="hybrid", explain=True)
    expected = answer["hits"]
    assert shown_ids(page) == [h["id"] for h in expected]

    both = next(h for h in expected if all(h["explain"]["retrievers"].values()))
    card = page.locator(f'[data-testid=hit][data-id="{both["id"]}"]')
    card.get_by_test_id("explain-button").click()
    explain = card.get_by_test_id("explain")
    expect(explain).to_be_visible()
    for name in ("lexical", "dense"):
        want = both["explain"]["retrievers"][name]
        row = explain.get_by_test_id(f"explain-{name}")
        assert number(row.get_by_test_id("rank").inner_text()) == want["rank"]
        assert number(row.get_by_test_id("score").inner_text()) == pytest.approx(
            want["score"], abs=6e-4
        )
    fused = explain.get_by_test_id("explain-fused").get_by_test_id("score").inner_text()
    assert number(fused) == pytest.approx(both["score"], abs=6e-4)
    # The stage timings are the request's (the response's trace): shown once, above the
    # hits, in the order they ran, and in no hit.
    assert explain.get_by_test_id("stage").count() == 0
    stages = page.get_by_test_id("timings").get_by_test_id("stage")
    assert (
        [s.get_attribute("data-stage") for s in stages.all()]
        == list(answer["trace"]["timings_ms"])
        == ["filter_ms", "lexical_ms", "dense_ms", "fuse_ms", "fetch_ms", "total_ms"]
    )
    assert all(MS.match(s.locator("dd").inner_text()) for s in stages.all())

    one_sided = next((h for h in expected if None in h["explain"]["retrievers"].values()), None)
    if one_sided is not None:
        card = page.locator(f'[data-testid=hit][data-id="{one_sided["id"]}"]')
        card.get_by_test_id("explain-button").click()
        missing = next(n for n, r in one_sided["explain"]["retrievers"].items() if r is None)
        row = card.get_by_test_id("explain").get_by_test_id(f"explain-{missing}")
        assert row.get_by_test_id("rank").inner_text() == "—"
    page.screenshot(path=artifacts / "search-explain.png", full_page=True)

    # Builder rows: a str and a number attribute, each value parsed by the attribute's type.
    page.get_by_test_id("add-filter").click()
    row = page.get_by_test_id("filter-row").last
    row.get_by_test_id("filter-attr").select_option("kind")
    row.get_by_test_id("filter-op").select_option("eq")
    row.get_by_test_id("filter-value").fill("class")
    assert settle(page, page.get_by_test_id("search-button").click) == "done"
    assert hits.count() >= 1
    assert chip_values(page, "kind") == ["class"] * hits.count()

    page.get_by_test_id("add-filter").click()
    row = page.get_by_test_id("filter-row").last
    row.get_by_test_id("filter-attr").select_option("lines")
    row.get_by_test_id("filter-op").select_option("gte")
    row.get_by_test_id("filter-value").fill("5")
    assert settle(page, page.get_by_test_id("search-button").click) == "done"
    where = {"and": [{"kind": {"eq": "class"}}, {"lines": {"gte": 5}}]}
    assert shown_ids(page) == [h["id"] for h in api_search(server, query=QUERY, where=where)]
    assert hits.count() >= 1
    assert chip_values(page, "kind") == ["class"] * hits.count()
    assert all(float(v) >= 5 for v in chip_values(page, "lines"))
    page.screenshot(path=artifacts / "search-filters.png", full_page=True)

    # Raw JSON: starts from the builder's filter; the server's own error message is shown.
    page.get_by_test_id("filter-mode-json").click()
    textarea = page.get_by_test_id("where-input")
    assert json.loads(textarea.input_value()) == where
    textarea.fill('{"kind": "function"}')
    assert settle(page, page.get_by_test_id("search-button").click) == "done"
    assert hits.count() >= 1
    assert chip_values(page, "kind") == ["function"] * hits.count()
    textarea.fill('{"nope": 1}')
    assert settle(page, page.get_by_test_id("search-button").click) == "error"
    error = page.get_by_test_id("error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("unknown attribute 'nope' in filter; known attributes:")
    page.screenshot(path=artifacts / "search-error.png")
    console.assert_clean(allow_statuses=(422,))


def test_detail_panel_and_similar_items(
    page: Any, console: Any, server: str, artifacts: Path
) -> None:
    page.goto(server)
    search(page, QUERY, "lexical")
    first = page.get_by_test_id("hit").first
    first_id = first.get_attribute("data-id")
    first.click()
    detail = page.get_by_test_id("detail")
    expect(detail).to_have_attribute("data-state", "done")
    expect(detail.get_by_test_id("detail-id")).to_have_text(first_id)
    item = httpx.get(f"{server}/collections/docs/items/{quote(first_id, safe='')}").json()
    shown_text = detail.get_by_test_id("detail-text").inner_text()
    assert shown_text.split() == item["text"].split()
    expect(
        detail.get_by_test_id("detail-attributes").locator("tr[data-attr=kind] td")
    ).to_have_text(item["kind"])

    similar = httpx.get(f"{server}/collections/docs/items/{quote(first_id, safe='')}/similar")
    similar_ids = [h["id"] for h in similar.json()["hits"]]
    buttons = detail.get_by_test_id("similar-hit")
    assert len(similar_ids) >= 1
    assert [b.get_attribute("data-id") for b in buttons.all()] == similar_ids

    buttons.nth(1).click()
    expect(detail.get_by_test_id("detail-id")).to_have_text(similar_ids[1])
    expect(detail).to_have_attribute("data-state", "done")
    assert detail.get_by_test_id("similar-hit").count() >= 1
    page.screenshot(path=artifacts / "detail.png")
    detail.get_by_test_id("detail-back").click()
    expect(detail.get_by_test_id("detail-id")).to_have_text(first_id)
    expect(page.locator(f'[data-testid=hit][data-id="{first_id}"]')).to_have_class(
        re.compile(r"\bselected\b")
    )
    detail.get_by_test_id("detail-close").click()
    expect(detail).to_be_hidden()
    console.assert_clean()


@pytest.mark.data
def test_evaluation_charts_and_table(
    page: Any,
    console: Any,
    server: str,
    report: dict[str, Any],
    artifacts: Path,
    tmp_path: Path,
) -> None:
    page.goto(server)
    page.get_by_test_id("eval-tab").click()
    select = page.get_by_test_id("report-select")
    expect(select.locator("option[value=cranfield]")).to_have_count(1)
    select.select_option("cranfield")
    ndcg, latency = page.get_by_test_id("chart-ndcg"), page.get_by_test_id("chart-latency")
    modes = list(report["runs"])
    expect(ndcg.get_by_test_id("bar-group")).to_have_count(len(modes))
    expect(latency.get_by_test_id("bar-group")).to_have_count(len(modes))

    def bars(chart: Any) -> list[tuple[str, str, float]]:
        return [
            (b.get_attribute("data-category"), b.get_attribute("data-series"),
             float(b.get_attribute("data-value")))
            for b in chart.get_by_test_id("bar").all()
        ]  # fmt: skip

    runs = report["runs"]
    assert bars(ndcg) == [(m, "nDCG@10", runs[m]["ndcg@10"]) for m in modes]
    assert bars(latency) == [(m, p, runs[m][f"{p}_ms"]) for m in modes for p in ("p50", "p95")]
    table = page.get_by_test_id("metrics-table")
    for mode in modes:
        row = table.locator(f"tr[data-mode={mode}]")
        for metric in ("ndcg@10", "recall@100", "mrr@10"):
            cell = row.locator(f'td[data-metric="{metric}"]')
            assert cell.inner_text() == f"{runs[mode][metric]:.4f}"
    expect(page.get_by_test_id("report-meta")).to_contain_text(f"{report['queries']}")
    page.screenshot(path=artifacts / "evaluation.png", full_page=True)

    # A local file: the same report without its dense run draws two bars.
    local = {**report, "runs": {m: r for m, r in runs.items() if m != "dense"}}
    path = tmp_path / "local-report.json"
    path.write_text(json.dumps(local))
    page.get_by_test_id("report-file").set_input_files(path)
    expect(select).to_have_value("file:local-report.json")
    expect(ndcg.get_by_test_id("bar-group")).to_have_count(2)
    assert [g.get_attribute("data-category") for g in ndcg.get_by_test_id("bar-group").all()] == [
        m for m in modes if m != "dense"
    ]
    console.assert_clean()


def test_api_key_prompt_and_no_reports_hint(
    page: Any, console: Any, keyed_server: str, api_key: str, artifacts: Path
) -> None:
    page.goto(keyed_server)
    dialog = page.get_by_test_id("auth")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("auth-message")).to_contain_text("Authorization: Bearer")
    page.get_by_test_id("auth-input").fill("wrong")
    page.get_by_test_id("auth-submit").click()
    expect(page.get_by_test_id("auth-message")).to_have_text("wrong API key")
    page.screenshot(path=artifacts / "api-key.png")
    page.get_by_test_id("auth-input").fill(api_key)
    page.get_by_test_id("auth-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("collection-select")).to_have_value("small")
    search(page, "sort a list", "hybrid")
    assert page.get_by_test_id("hit").count() >= 1

    # The key is kept: a reload asks nothing.
    page.reload()
    expect(page.get_by_test_id("collection-select")).to_have_value("small")
    expect(dialog).to_be_hidden()
    assert page.evaluate("localStorage.getItem('sleuth.apiKey')") == api_key

    page.get_by_test_id("eval-tab").click()
    hint = page.get_by_test_id("eval-empty")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("sleuth eval beir PATH --json > DATA/reports/NAME.json")
    expect(page.get_by_test_id("report-select")).to_be_disabled()
    page.screenshot(path=artifacts / "evaluation-empty.png")
    console.assert_clean(allow_statuses=(401,))
