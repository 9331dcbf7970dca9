"""The HTML report in a real browser at 700 px (issue 22 part 6): no sideways page scroll, chart text
at least 9.5 px on screen and inside its chart, and the model view, unit costs and partial-period flag.

Runs headless Chromium when it is installed (``apt-get install chromium``), else skips. The page's
Content-Security-Policy forbids scripts, so the test measures a copy without it, with one script that
writes its measurements into the DOM that ``--dump-dom`` prints.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import attribution as at
from attribution.reports import write_report

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

_MEASURE = """<script>
window.addEventListener('load', () => {
  const out = {vw: window.innerWidth, sw: document.documentElement.scrollWidth, small: [], clipped: [],
               sections: [...document.querySelectorAll('section')].map(s => s.id)};
  for (const svg of document.querySelectorAll('svg')) {
    const box = svg.getBoundingClientRect();
    const scale = box.width / svg.viewBox.baseVal.width;
    for (const t of svg.querySelectorAll('text')) {
      const px = parseFloat(getComputedStyle(t).fontSize) * scale;
      if (px < 9.5) out.small.push(t.textContent + ' ' + px.toFixed(1));
      const r = t.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1)) out.clipped.push(t.textContent);
    }
  }
  const pre = document.createElement('pre');
  pre.id = 'measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.fixture(scope="module")
def month_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    report = at.run_audit([EXAMPLES / "gateway-month.jsonl"], registry=at.load_registry(EXAMPLES / "pricecards"),
                          contract=at.OwnershipContract(owner_map=at.load_owner_map(EXAMPLES / "owners.toml")),
                          invoices=[line for f in sorted((EXAMPLES / "invoices").iterdir())
                                    for line in at.read_invoice(f)],
                          policy=at.load_policy(EXAMPLES / "policy.toml"))
    out = tmp_path_factory.mktemp("html") / "month.html"
    with out.open("w", encoding="utf-8") as fh:
        write_report(report, "html", fh)
    return out.read_text(encoding="utf-8")


def _measure(page: str, tmp_path: Path, width: int) -> dict[str, object]:
    browser = _browser()
    if browser is None:
        pytest.skip("no headless Chromium installed")
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page).replace("</body>", _MEASURE + "</body>")
    path = tmp_path / "measured.html"
    path.write_text(page, encoding="utf-8")
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},900",
                           "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="measure">(.*?)</pre>', done.stdout)
    assert found, done.stderr[-2000:]
    result: dict[str, object] = json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<")
                                           .replace("&gt;", ">").replace("&quot;", '"'))
    return result


@pytest.mark.parametrize("width", [700, 1280])
def test_the_page_is_readable_in_a_browser(month_html: str, tmp_path: Path, width: int) -> None:
    m = _measure(month_html, tmp_path, width)
    assert m["sw"] <= m["vw"], "the page scrolls sideways"   # wide tables scroll inside their own box
    assert m["small"] == [], "chart text under 9.5 px"
    assert m["clipped"] == [], "chart text drawn outside its chart"
    sections = m["sections"]
    assert isinstance(sections, list)
    assert sections.index("models") == sections.index("owners") + 1


def test_the_model_view_and_unit_costs_are_on_the_page(month_html: str) -> None:
    assert "Spend by provider and model" in month_html
    assert "per 1K requests" in month_html
    # gpt-5.4: $11.4984195 over 309 requests = $0.0372 per request, $37.21 per 1,000
    row = re.search(r"<td>gpt-5\.4</td>(.*?)</tr>", month_html)
    assert row
    assert "$0.0372" in row.group(1)
    assert "$37.21" in row.group(1)
    assert "PARTIAL" not in month_html.split("<main>")[1].split('<div class="kpis">')[0]   # June is complete


def test_a_partial_month_is_flagged_at_the_top(tmp_path: Path) -> None:
    event = {"timestamp": "2026-06-18T12:00:00Z", "provider": "openai", "model_actual": "gpt-4.1-mini",
             "input_tokens": 1000, "output_tokens": 10}
    page = tmp_path / "p.html"
    with page.open("w", encoding="utf-8") as fh:
        write_report(at.run_audit([event]), "html", fh)
    top = page.read_text(encoding="utf-8").split('<div class="kpis">')[0]
    assert "PARTIAL" in top
    assert "ends on 2026-06-18, 12 days before the month ends (2026-06-30)" in top
