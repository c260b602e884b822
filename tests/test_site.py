"""The website: it builds without warnings, works in a real browser with no network, and leaks nothing.

The browser is Debian's Chromium (tools/install-browser.sh installs it), driven by Playwright's Python
package; no browser is ever downloaded. Every request to a host other than this machine is aborted
and recorded, so a page that needs the internet fails here exactly as it would offline.

Screenshots of every page, at a desktop width and at a phone's (390 px), land in _build/screenshots/.
"""
import functools
import hashlib
import html
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--disable-breakpad",
]
PAGE_TIMEOUT_MS = 30_000


# --------------------------------------------------------------------------------------------------
# The site


def toc_pages():
    """The docnames of every page in _toc.yml, in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [str(Path(p).with_suffix("")) for p in pages]


PAGES = toc_pages()


@pytest.fixture(scope="session")
def site():
    """Build the website into _build/html (the execution cache keeps rebuilds fast); fail on any warning."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    if not jupyter_book.exists():
        pytest.fail(f"{jupyter_book} is missing: run `make setup` first")
    env = dict(os.environ, GRU_BOOK_BUILD="1")
    proc = subprocess.run(
        [str(jupyter_book), "build", ".", "-W", "-n", "--keep-going"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    log = proc.stdout + proc.stderr
    # Sphinx's own warnings look like "path:line: WARNING: ..."; the kernel's log lines
    # ("[IPKernelApp] WARNING | ...") are not the book's and are ignored.
    sphinx_warnings = [line for line in log.splitlines() if re.search(r"\bWARNING: |\bERROR: ", line)]
    if proc.returncode != 0 or sphinx_warnings:
        pytest.fail(
            f"`jupyter-book build . -W -n --keep-going` failed (exit {proc.returncode}) with "
            f"{len(sphinx_warnings)} warning(s):\n" + "\n".join(sphinx_warnings[:40])
            + "\n--- end of the build log ---\n" + log[-4000:]
        )
    for page in PAGES:
        assert (HTML / f"{page}.html").is_file(), f"the build did not write {page}.html"
    return HTML


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server(site):
    """Serve _build/html on a free port of 127.0.0.1; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


# --------------------------------------------------------------------------------------------------
# The browser


class Recorder:
    """What one page did on the network and in its console."""

    def __init__(self):
        self.blocked, self.failed, self.bad_status, self.console_errors = [], [], [], []

    def problems(self):
        out = []
        out += [f"request to a non-local host (blocked): {u}" for u in self.blocked]
        out += [f"request failed: {u} ({why})" for u, why in self.failed]
        out += [f"HTTP {status}: {u}" for u, status in self.bad_status]
        out += [f"console error: {m}" for m in self.console_errors]
        return out


@pytest.fixture(scope="session")
def browser_context(server, tmp_path_factory):
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.fail("Chromium is missing at /usr/bin/chromium: run `bash tools/install-browser.sh` "
                    "(as root, or install Debian's chromium and chromium-driver packages)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: run `make setup` (it is in requirements.txt)")

    recorder = {"current": Recorder()}

    def route(route_):
        url = route_.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            recorder["current"].blocked.append(url)
            route_.abort("blockedbyclient")
        else:
            route_.continue_()

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh user-data-dir
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900}, service_workers="block",
        )
        context.route("**/*", route)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        yield context, recorder
        context.close()


@pytest.fixture
def open_page(browser_context, server):
    """open_page(path) -> (page, recorder) with the page loaded and its network settled."""
    context, recorder = browser_context
    pages = []

    def _open(path, viewport=None):
        rec = recorder["current"] = Recorder()
        page = context.new_page()
        pages.append(page)
        if viewport:
            page.set_viewport_size(viewport)
        page.on("console", lambda m: rec.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: rec.console_errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: rec.blocked.count(r.url) or rec.failed.append((r.url, r.failure)))
        page.on("response", lambda r: rec.bad_status.append((r.url, r.status)) if r.status >= 400 else None)
        page.goto(urljoin(server, path), wait_until="load")
        page.wait_for_load_state("networkidle")
        return page, rec

    yield _open
    for page in pages:
        page.close()


WAIT_FOR_MATHJAX = """async () => {
    if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) return {loaded: false};
    await MathJax.startup.promise;
    await document.fonts.ready;
    const fonts = [...document.fonts].filter(f => f.family.includes('MJXTEX') || f.family.includes('MJXZERO'));
    return {
        loaded: true,
        sources: document.querySelectorAll('.math, span.math, div.math').length,
        rendered: document.querySelectorAll('mjx-container').length,
        errors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')].map(e => e.textContent),
        fontsLoaded: fonts.filter(f => f.status === 'loaded').map(f => f.family),
        fontsFailed: fonts.filter(f => f.status === 'error').map(f => f.family),
    };
}"""

CHECK_IMAGES = """async () => {
    const imgs = [...document.images];
    await Promise.all(imgs.map(img => img.complete ? null : new Promise(done => {
        img.addEventListener('load', done); img.addEventListener('error', done);
        setTimeout(done, 10000);
    })));
    return imgs.map(img => ({src: img.currentSrc || img.src, width: img.naturalWidth}));
}"""


@pytest.mark.parametrize("docname", PAGES)
def test_page_works_offline(open_page, docname):
    """Every page of the TOC loads from localhost alone: scripts, styles, images, maths, fonts."""
    page, rec = open_page(f"{docname}.html")
    source = (HTML / f"{docname}.html").read_text(encoding="utf-8")

    has_math = bool(re.search(r'class="[^"]*\bmath\b', source))
    if has_math:  # Sphinx adds MathJax only to pages with maths
        mathjax = page.evaluate(WAIT_FOR_MATHJAX)
        assert mathjax["loaded"], f"{docname}: MathJax did not load (is mathjax_path local and copied?)"
        assert mathjax["rendered"] > 0, f"{docname}: the page has maths but MathJax rendered none"
        assert mathjax["rendered"] >= mathjax["sources"], (
            f"{docname}: {mathjax['sources']} maths elements but only {mathjax['rendered']} rendered")
        assert not mathjax["errors"], f"{docname}: MathJax errors: {mathjax['errors']}"
        assert mathjax["fontsLoaded"] and not mathjax["fontsFailed"], (
            f"{docname}: MathJax fonts loaded {mathjax['fontsLoaded']}, failed {mathjax['fontsFailed']}")

    images = page.evaluate(CHECK_IMAGES)
    broken = [img["src"] for img in images if img["width"] == 0]
    assert not broken, f"{docname}: images that did not load: {broken}"

    # A widget view with no widget manager (nb_ipywidgets_js is empty so that no CDN is used)
    # renders as an empty box: chapters must skip live widgets when GRU_BOOK_BUILD is set.
    assert "application/vnd.jupyter.widget-view+json" not in source, (
        f"{docname}: the page embeds a Jupyter widget, which cannot work offline in the static site; "
        "skip it when the GRU_BOOK_BUILD environment variable is set")

    page.wait_for_load_state("networkidle")
    assert not rec.problems(), f"{docname}:\n" + "\n".join(rec.problems())


VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
MIN_TEXT_PX = 11      # the smallest readable figure text, in CSS pixels as rendered
SCRIPT_SHARE = 0.7    # mathtext sub- and superscripts are drawn at 70 % of their base text

# Boxes that must fit the article's width: prose, maths, figures and tables. Code blocks may scroll.
FIT_SELECTORS = ", ".join([
    "article p", "article li", "article h1", "article h2", "article h3", "article table",
    "article mjx-container", "article div.math", "article img", "article svg:not(mjx-container svg)",
    "article .cell_output > div",
])

LAYOUT = """async (selectors) => {
    await (window.MathJax && MathJax.startup && MathJax.startup.promise || Promise.resolve());
    const article = document.querySelector('article.bd-article') || document.querySelector('article');
    const box = article.getBoundingClientRect();
    const doc = document.documentElement;
    const describe = el => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
        ? '.' + el.className.trim().split(/\\s+/).join('.') : '') + ': ' + (el.textContent || el.getAttribute('src') || '').trim().slice(0, 60);
    const overflows = [];
    for (const el of article.querySelectorAll(selectors)) {
        if (el.closest('pre, .highlight, details:not([open]), .toggle-hidden, [hidden]')) continue;
        const r = el.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        if (r.right > box.right + 1 || r.left < box.left - 1) {
            overflows.push(`${describe(el)} spans x ${Math.round(r.left)}..${Math.round(r.right)}, the article ${Math.round(box.left)}..${Math.round(box.right)}`);
        } else if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') {
            overflows.push(`${describe(el)} scrolls sideways (${el.scrollWidth} px of content in ${el.clientWidth} px)`);
        }
    }
    const texts = [];   // [rendered px, is a sub/superscript, text, where]
    for (const img of article.querySelectorAll('img')) {
        const width = img.getBoundingClientRect().width;
        if (!width) continue;
        if (!/\\.svg($|\\?)/.test(img.currentSrc || img.src)) {
            if (img.naturalWidth > width * 1.25)   // a raster image shrunk by more than a fifth
                texts.push([0, false, `raster image shown at ${Math.round(width)} of ${img.naturalWidth} px`, img.src]);
            continue;
        }
        const svg = new DOMParser().parseFromString(await (await fetch(img.src)).text(), 'image/svg+xml').documentElement;
        const viewWidth = parseFloat((svg.getAttribute('viewBox') || '').split(/[ ,]+/)[2] || svg.getAttribute('width'));
        for (const t of svg.querySelectorAll('text')) {
            const size = parseFloat(((t.getAttribute('style') || '').match(/font-size:\\s*([\\d.]+)/) || [])[1] || t.getAttribute('font-size') || 16);
            const siblings = [...t.parentNode.children].filter(c => c.tagName === 'text');
            const biggest = Math.max(...siblings.map(c => parseFloat(((c.getAttribute('style') || '').match(/font-size:\\s*([\\d.]+)/) || [])[1] || 0)));
            texts.push([size * width / viewWidth, siblings.length > 1 && size < 0.9 * biggest, t.textContent.trim(), img.src.split('/').pop()]);
        }
    }
    for (const t of article.querySelectorAll('svg:not(mjx-container svg) text')) {
        const ctm = t.getScreenCTM();
        const scale = ctm ? Math.hypot(ctm.a, ctm.b) : 1;
        texts.push([parseFloat(getComputedStyle(t).fontSize) * scale, false, t.textContent.trim(), 'inline svg']);
    }
    return {pageWidth: doc.scrollWidth, viewport: window.innerWidth, overflows, texts};
}"""


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("docname", PAGES)
def test_page_fits_and_figures_are_legible(open_page, docname, viewport):
    """At a desktop and at a phone's width (390 px) nothing but code scrolls sideways, and no figure
    text renders under MIN_TEXT_PX (math sub- and superscripts: SCRIPT_SHARE of it). Screenshots of
    both go to _build/screenshots/."""
    page, rec = open_page(f"{docname}.html", VIEWPORTS[viewport])
    page.evaluate(CHECK_IMAGES)  # wait for the images
    layout = page.evaluate(LAYOUT, FIT_SELECTORS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{docname.replace('/', '__')}.{viewport}.png"), full_page=True)

    problems = []
    if layout["pageWidth"] > layout["viewport"] + 1:
        problems.append(f"the page is {layout['pageWidth']} px wide in a {layout['viewport']} px viewport")
    problems += layout["overflows"]
    for px, script, text, where in layout["texts"]:
        least = MIN_TEXT_PX * (SCRIPT_SHARE if script else 1)
        if px < least - 0.05:
            problems.append(f"{where}: text {text!r} renders at {px:.1f} px (at least {least:.1f} px)")
    assert not problems, f"{docname} at the {viewport} width:\n" + "\n".join(problems[:30])


# Accessibility (issue 15, item 8): axe-core, vendored in tests/vendor/axe-core/ (never served), checks
# every page at both widths against WCAG 2.1 A and AA; serious and critical violations fail.
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # axe-core 4.14.1, npm
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_FAILING_IMPACTS = ("serious", "critical")

RUN_AXE = """async (tags) => {
    await (window.MathJax && MathJax.startup && MathJax.startup.promise || Promise.resolve());
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\\n').slice(1).join(' '))}));
}"""

# What a figure says to someone who cannot see it: alt text that is not a file name, or an SVG's label.
FIGURE_TEXT = """() => {
    const article = document.querySelector('article.bd-article') || document.querySelector('article');
    const missing = [];
    for (const img of article.querySelectorAll('img')) {
        const alt = (img.getAttribute('alt') || '').trim();
        if (img.getAttribute('role') === 'presentation' || img.getAttribute('aria-hidden') === 'true') continue;
        if (!alt || /\\.(svg|png|jpe?g|gif)$/i.test(alt) || alt.includes('_images/'))
            missing.push(`img ${img.getAttribute('src')}: alt ${JSON.stringify(alt)}`);
    }
    for (const svg of article.querySelectorAll('svg:not(mjx-container svg)')) {
        if (svg.closest('[aria-hidden="true"], button, a, .headerlink')) continue;
        if (svg.getAttribute('aria-hidden') === 'true') continue;
        const named = svg.getAttribute('aria-label') || svg.getAttribute('aria-labelledby') || svg.querySelector(':scope > title');
        if (!named) missing.push(`inline svg ${svg.outerHTML.slice(0, 80)}`);
    }
    return missing;
}"""


ALT_TEXT_PENDING = set()  # pages whose figures are allowed to lack alt text for now: none


def _axe_source():
    source = AXE.read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, f"{AXE} is not the vendored axe-core 4.14.1"
    return source.decode("utf-8")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("docname", PAGES)
def test_page_is_accessible(open_page, docname, viewport):
    """axe-core finds no serious or critical WCAG 2.1 AA violation, and every figure has a text
    alternative (an image's alt that is not its file name, an inline SVG's label)."""
    page, rec = open_page(f"{docname}.html", VIEWPORTS[viewport])
    page.evaluate(CHECK_IMAGES)  # wait for the images
    page.add_script_tag(content=_axe_source())
    violations = page.evaluate(RUN_AXE, AXE_TAGS)
    problems = [f"{v['impact']}: {v['id']} ({v['help']}): " + "; ".join(v["nodes"][:5])
                for v in violations if v["impact"] in AXE_FAILING_IMPACTS]
    if docname not in ALT_TEXT_PENDING:
        problems += [f"a figure without a text alternative: {m}" for m in page.evaluate(FIGURE_TEXT)]
    assert not problems, f"{docname} at the {viewport} width:\n" + "\n".join(problems[:30])
    assert not rec.problems(), "\n".join(rec.problems())


def test_next_links_follow_the_toc(open_page, server):
    """Each page's "next" link leads to the next page of the TOC; clicking it navigates there."""
    for here, there in zip(PAGES, PAGES[1:]):
        source = (HTML / f"{here}.html").read_text(encoding="utf-8")
        match = re.search(r'<a[^>]*class="[^"]*\bright-next\b[^"]*"[^>]*href="([^"]+)"', source) or \
            re.search(r'<a[^>]*href="([^"]+)"[^>]*class="[^"]*\bright-next\b', source)
        assert match, f"{here}.html has no next-page link"
        target = urlsplit(urljoin(f"http://x/{here}.html", html.unescape(match.group(1)))).path
        assert target == f"/{there}.html", f"{here}.html: next link goes to {target}, expected /{there}.html"

    page, rec = open_page(f"{PAGES[0]}.html")
    page.click("a.right-next")
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path == f"/{PAGES[1]}.html", f"clicking next went to {page.url}"
    assert page.locator("article h1").first.is_visible(), "the next page shows no heading"
    assert not rec.problems(), "\n".join(rec.problems())


def test_search_finds_reset(open_page):
    """The offline search index answers a query: "reset" must find the GRU chapters."""
    page, rec = open_page("search.html?q=reset")
    page.wait_for_selector("#search-results ul.search li a", timeout=PAGE_TIMEOUT_MS)
    hits = page.eval_on_selector_all("#search-results ul.search li a", "as => as.map(a => a.href)")
    assert hits, "the search for 'reset' found nothing"
    assert any("gru" in h for h in hits), f"no GRU chapter among the search results: {hits}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "search_reset.png"), full_page=True)
    assert not rec.problems(), "\n".join(rec.problems())


def test_index_redirects_to_the_landing_page(open_page):
    page, rec = open_page("index.html")
    page.wait_for_url(re.compile(rf"/{re.escape(PAGES[0])}\.html$"))
    assert not rec.problems(), "\n".join(rec.problems())


# --------------------------------------------------------------------------------------------------
# Static checks of the output


TEXT_SUFFIXES = {".html", ".js", ".css", ".txt", ".md", ".ipynb", ".json", ".py", ".svg", ".map", ""}
EXTERNAL_REF = re.compile(
    r"""<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc\s*=\s*["']((?:https?:)?//[^"']+)"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']((?:https?:)?//[^"']+)["'][^>]*>""",
    re.I,
)
CDN_HOSTS = re.compile(r"cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|fonts\.googleapis\.com"
                       r"|fonts\.gstatic\.com|ajax\.googleapis\.com|code\.jquery\.com|mathjax\.org", re.I)


def _output_files(site):
    return [p for p in site.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES]


def test_html_loads_nothing_from_other_hosts(site):
    """No page references a script, stylesheet, image or frame on another host, and no CDN at all."""
    problems = []
    for path in site.rglob("*.html"):
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in EXTERNAL_REF.finditer(text):
            tag = match.group(0)
            if match.group(2) and not re.search(r"""rel\s*=\s*["'][^"']*(stylesheet|preload|icon|modulepreload)""", tag, re.I):
                continue  # <link rel="canonical"> and the like are not loaded
            problems.append(f"{path.relative_to(site)}: {tag[:160]}")
        for match in CDN_HOSTS.finditer(text):
            problems.append(f"{path.relative_to(site)}: mentions a CDN: {text[max(0, match.start() - 60):match.end() + 40]!r}")
    for path in site.rglob("*.css"):
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in re.finditer(r"""(?:@import|url\()\s*["']?((?:https?:)?//[^"')\s]+)""", text):
            problems.append(f"{path.relative_to(site)}: loads {match.group(1)}")
    assert not problems, "\n".join(problems[:40])


def _normalise(text):
    return re.sub(r"\s+", " ", text).strip()


def _as_text(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":  # JSON escapes quotes and newlines: compare the cells' own text
        cells = json.loads(text).get("cells", [])
        text = "\n".join("".join(c.get("source", "")) for c in cells)
    if path.suffix == ".html":
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return _normalise(text)


def _notebook_blocks(nb_path, begin, end):
    """The code between `### BEGIN x` and `### END x` markers in the cells of a notebook."""
    blocks = []
    cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        source = "".join(cell["source"])
        for match in re.finditer(rf"### {begin}\n(.*?)### {end}", source, re.S):
            lines = [ln.strip() for ln in match.group(1).splitlines() if ln.strip()]
            if lines:
                blocks.append(lines)
    return blocks


def _windows(lines, size=3, min_len=12):
    """Runs of `size` consecutive lines that are long enough to be distinctive."""
    lines = [ln for ln in lines if len(ln) >= min_len]
    return [_normalise(" ".join(lines[i:i + size])) for i in range(max(0, len(lines) - size + 1))]


def test_no_solutions_hidden_tests_or_grader_source_in_the_site(site):
    """Nothing of solutions/, tests/, the hidden tests or gru_ref's source reaches _build/html."""
    files = _output_files(site)
    texts = {p: _as_text(p) for p in files}
    problems = []

    for path in site.rglob("*"):
        rel = path.relative_to(site).as_posix()
        if re.search(r"(^|/)(solutions|tests|gru_ref|\.ci)(/|$)", rel):
            problems.append(f"{rel}: a path from a private folder")

    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        problems += [f"{p.relative_to(site)}: contains {marker!r}" for p, t in texts.items() if marker in t]

    secrets = []  # (what, normalised text) that must appear nowhere
    for nb in sorted((ROOT / "solutions").rglob("*.ipynb")):
        for block in _notebook_blocks(nb, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            secrets += [(f"hidden test of {nb.name}", _normalise(line)) for line in block]
        # The chapters teach the same maths, so a few lines in common are expected; a whole
        # solution block, comments included, is not.
        for block in _notebook_blocks(nb, "BEGIN SOLUTION", "END SOLUTION"):
            secrets += [(f"solution of {nb.name}", _normalise(" ".join(block)))]
    for source in sorted((ROOT / "gru_ref").glob("*.py")):
        lines = [ln.strip() for ln in source.read_text(encoding="utf-8").splitlines() if ln.strip()]
        secrets += [(f"gru_ref/{source.name}", w) for w in _windows(lines, size=6)]
    for source in sorted((ROOT / "tests").glob("*.py")):
        lines = [ln.strip() for ln in source.read_text(encoding="utf-8").splitlines() if ln.strip()]
        secrets += [(f"tests/{source.name}", w) for w in _windows(lines, size=4, min_len=30)]
    assert secrets, "found nothing to look for: are solutions/ and gru_ref/ in place?"

    for what, secret in secrets:
        for path, text in texts.items():
            if secret in text:
                problems.append(f"{path.relative_to(site)}: contains text of {what}: {secret[:100]!r}")
    assert not problems, "\n".join(problems[:40])


def test_long_memory_page_states_the_verdict_of_the_committed_runs(site):
    """Chapter 7's conclusion is the one book/long_memory.py's verdict() computes from the committed runs
    (book/long_memory_runs.json), and it says the plain RNNs fail where the GRU succeeds."""
    spec = importlib.util.spec_from_file_location("long_memory", ROOT / "book" / "long_memory.py")
    lm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lm)
    separated, verdict = lm.verdict(lm.load_runs())
    assert separated, verdict
    page = html.unescape(re.sub(r"<[^>]+>", "", (site / "book" / "07_long_memory.html").read_text(encoding="utf-8")))
    assert verdict in " ".join(page.split()), f"chapter 7 does not state the committed runs' verdict: {verdict!r}"


def test_long_memory_figures_have_alt_text(site):
    """Every figure of chapter 7 says what it shows to a reader who cannot see it (its cell's alt)."""
    page = (site / "book" / "07_long_memory.html").read_text(encoding="utf-8")
    images = [img for img in re.findall(r"<img\b[^>]*>", page) if "_images/" in img]  # the cells' figures
    assert len(images) >= 4, f"expected chapter 7's figures, found {len(images)} images"
    missing = [img[:120] for img in images if not re.search(r'\balt="[^"]{20,}"', img)]
    assert not missing, "figures without alt text:\n" + "\n".join(missing)


# Issue 15, item 2: the chapters teach the maths in another form than the exercises' answers, so that
# writing them stays the learner's work. train_gru's answer is a standard training loop: idiom, exempt.
WORK_ASSIGNMENTS = ("gru", "gru_bptt", "rnn", "gru_layers", "shapes")
COPIED_RUN = 4          # this many consecutive non-trivial lines of an answer on a page is a copy
TRIVIAL_LINE = re.compile(r"(\w+=(\[\]|\{\}|\(\)|0|1|None)|else:|try:|pass|return|break|continue)")


def _code_line(line):
    """A line as the copy check compares it: its comment and all its whitespace dropped."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#":
            line = line[:i]
            break
    return re.sub(r"\s+", "", line)


def _significant_lines(lines):
    """The non-trivial lines, in order: no blanks, no short ones, no `states = []` or `else:`."""
    kept = (_code_line(ln) for ln in lines)
    return [ln for ln in kept if len(ln) >= 10 and not TRIVIAL_LINE.fullmatch(ln)]


def _runs(lines, size=COPIED_RUN):
    return {tuple(lines[i:i + size]) for i in range(len(lines) - size + 1)}


def _page_lines(path):
    """A built file's text, line by line, as a reader sees it (tags dropped, entities decoded)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        text = "\n".join("".join(c.get("source", "")) for c in json.loads(text).get("cells", []))
    if path.suffix == ".html":
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return text.splitlines()


def _answer_runs():
    """{run of COPIED_RUN significant lines: the assignment whose solution it is}."""
    runs = {}
    for assignment in WORK_ASSIGNMENTS:
        for nb in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
            for block in _notebook_blocks(nb, "BEGIN SOLUTION", "END SOLUTION"):
                runs.update(dict.fromkeys(_runs(_significant_lines(block)), assignment))
    return runs


def _copied_answers(lines, answer_runs):
    page_runs = _runs(_significant_lines(lines))
    return sorted({(answer_runs[run], run) for run in page_runs & answer_runs.keys()})


def test_the_copy_check_finds_an_answer_however_it_is_laid_out():
    """The check of the test below: four lines of the `gru` answer, re-indented, re-commented and
    HTML-escaped as a page shows them, are found; three lines, or the same maths in another form, are not."""
    answer_runs = _answer_runs()
    assert answer_runs, "no solution regions found in solutions/"
    block = next(b for b in _notebook_blocks(ROOT / "solutions" / "gru" / "gru.ipynb", "BEGIN SOLUTION",
                                             "END SOLUTION") if any("chunk" in ln for ln in b))
    shown = [f"<span>{html.escape(ln.split('#')[0])}</span>   # a page's own comment" for ln in block[2:6]]
    assert _copied_answers(_page_lines_of_text(shown), answer_runs), "four copied lines were not found"
    assert not _copied_answers(_page_lines_of_text(shown[:3]), answer_runs), "three lines are not a copy"
    other_form = ["r, z = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H]).split(H, dim=1)",
                  "n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])", "return n + z * (h - n)",
                  "output[t] = h"]
    assert not _copied_answers(other_form, answer_runs), "the same maths in another form is not a copy"


def _page_lines_of_text(lines):
    return html.unescape(re.sub(r"<[^>]+>", "", "\n".join(lines))).splitlines()


def test_no_page_shows_an_exercise_answer(site):
    """No built page holds COPIED_RUN consecutive non-trivial lines of the answer of gru, rnn,
    gru_layers or shapes (comments and whitespace dropped): the chapters teach the maths in another form."""
    answer_runs = _answer_runs()
    problems = []
    for path in _output_files(site):
        for assignment, run in _copied_answers(_page_lines(path), answer_runs):
            problems.append(f"{path.relative_to(site)}: {COPIED_RUN} lines of the {assignment} answer: {run}")
    assert not problems, "\n".join(problems[:20])


def test_no_page_shows_the_books_plumbing(site):
    """The import of myst_nb's glue, which hands computed numbers to the text, is the build's business:
    no page shows it, folded or not (issue 15, item 6)."""
    shown = [page for page in PAGES if "from myst_nb import" in _as_text(site / f"{page}.html")]
    assert not shown, f"these pages show `from myst_nb import glue`: move it into a remove-cell: {shown}"


@pytest.mark.parametrize("assignment", ["gru", "gru_bptt", "rnn", "gru_layers", "shapes", "train_gru"])
def test_exercise_page_offers_the_learner_notebook(site, assignment):
    """Each exercise page links its release notebook (a download) and opens it in Colab from the repo."""
    page = (site / "book" / "exercises" / f"{assignment}.html").read_text(encoding="utf-8")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]["url"].rstrip("/").removeprefix("https://github.com/")
    branch = config["repository"]["branch"]
    notebook = f"exercises/{assignment}/{assignment}.ipynb"
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{notebook}"
    assert f'href="{colab}"' in page, f"no Colab link {colab} on the exercise page"
    downloads = re.findall(rf'href="([^"]*_downloads/[^"]+/{assignment}\.ipynb)"', page)
    assert downloads, f"no download link to {assignment}.ipynb on the exercise page"
    served = (site / "book" / "exercises" / downloads[0]).resolve()
    released = ROOT / notebook
    assert served.read_bytes() == released.read_bytes(), f"the downloadable notebook is not {notebook}"


def test_launch_buttons_open_runnable_notebooks(site):
    """Each chapter's Binder button opens its .md file in JupyterLab, and Binder's environment installs
    the CPU build of torch and jupytext (which opens .md files as notebooks). No Colab button points
    at a .md file, and no JupyterHub button exists unless _config.yml names a hub."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    buttons = config.get("launch_buttons", {})
    hub = buttons.get("jupyterhub_url")
    requirements = (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^torch==[\d.]+\+cpu$", requirements, re.M), "binder/requirements.txt must pin torch's +cpu build"
    assert "download.pytorch.org/whl/cpu" in requirements, "binder/requirements.txt must name the CPU wheel index"
    assert re.search(r"^jupytext==", requirements, re.M), "binder/requirements.txt must install jupytext"
    assert "set-default-viewer" in (ROOT / "binder" / "postBuild").read_text(encoding="utf-8")

    problems, binder_pages = [], 0
    for docname in PAGES:
        page = html.unescape((HTML / f"{docname}.html").read_text(encoding="utf-8"))
        for href in re.findall(r'href="([^"]+)"', page):
            host = urlsplit(href).hostname or ""
            if host == "colab.research.google.com" and not href.endswith(".ipynb"):
                problems.append(f"{docname}: a Colab link to a file Colab cannot open: {href}")
            if "/hub/user-redirect/git-pull" in href and not (hub and href.startswith(hub.rstrip("/") + "/")):
                problems.append(f"{docname}: a JupyterHub button to a hub _config.yml does not name: {href}")
            if re.search(r"(^|\.)example\.(org|com|net)$", host):
                problems.append(f"{docname}: a link to a placeholder host: {href}")
            if host == urlsplit(buttons.get("binderhub_url", "https://mybinder.org")).hostname:
                binder_pages += 1
                target = re.search(r"urlpath=lab/tree/([^&]+)", href)
                if not target or not (ROOT / target.group(1)).is_file():
                    problems.append(f"{docname}: the Binder button does not open a file of the repository: {href}")
    assert binder_pages, "no page has a Binder button"
    assert not problems, "\n".join(problems)



def _learner_edition():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import learner_edition
    return learner_edition


def test_the_learners_edition_serves_the_checker_and_no_reference(site):
    """_static/learners/ holds the released notebooks and the learners' checker: the checks and
    their judge, and nothing of the reference equations, the grading or the solutions."""
    edition = _learner_edition()
    folder = site / edition.FOLDER
    for notebook in (ROOT / "exercises").glob("*/*.ipynb"):
        assert (folder / notebook.name).read_bytes() == notebook.read_bytes()
    with zipfile.ZipFile(folder / edition.wheel_name()) as wheel:
        # the text of every member; the mistakes' tensor table is read in tests/test_layout.py
        members = {name: wheel.read(name).decode("utf-8") for name in wheel.namelist()
                   if name != f"gru_ref/{edition.MISTAKE_TABLES[0]}"}
    modules = {name.removeprefix("gru_ref/") for name in members if name.startswith("gru_ref/") and name.endswith(".py")}
    assert modules == set(edition.learner_files())
    reference = [ln.strip() for ln in (ROOT / "gru_ref" / "reference" / "equations.py").read_text().splitlines()
                 if ln.strip()]
    solutions = [" ".join(block) for nb in (ROOT / "solutions").rglob("*.ipynb")
                 for block in _notebook_blocks(nb, "BEGIN SOLUTION", "END SOLUTION")]
    for name, text in members.items():
        flat = _normalise(text)
        assert "def gru_sequence" not in text and "def gru_cell(" not in text, name
        assert not [w for w in _windows(reference, size=4) if w in flat], f"{name} holds the reference"
        assert not [s for s in solutions if _normalise(s) in flat], f"{name} holds a solution"


def test_a_fresh_virtualenv_installs_the_served_checker_and_passes_with_the_solution(server, tmp_path):
    """As a learner would: a new virtualenv, `pip install` the wheel from the site's address, then the
    solution passes every check, and the reference is not there to import."""
    edition = _learner_edition()
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    url = f"{server.rstrip('/')}/{edition.FOLDER.as_posix()}/{edition.wheel_name()}"
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "torch==2.13.0", f"gru_ref @ {url}"],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    source = json.loads((ROOT / "solutions" / "gru" / "gru.ipynb").read_text())
    answers = ["".join(c["source"]) for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    shapes = json.loads((ROOT / "solutions" / "shapes" / "shapes.ipynb").read_text())
    answers += ["".join(c["source"]) for c in shapes["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    bptt = json.loads((ROOT / "solutions" / "gru_bptt" / "gru_bptt.ipynb").read_text())
    answers += ["".join(c["source"]) for c in bptt["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    from bptt_code import SLIPS
    from gru_ref.assignments.gru_bptt import BPTT_MISTAKES
    lesson = next(m.lesson for m in BPTT_MISTAKES if m.name == "bptt_state_grad_not_carried")
    script = "import torch\nfrom torch import nn\n" + "\n".join(answers) + """
from gru_ref import check_gru_cell, check_gru_cell_grad, check_my_gru
check_gru_cell(gru_cell, "contract", "quick", "values", "gradients", "devices")
check_my_gru(my_gru, "contract", "quick", "values", "gradients", "devices")
check_gru_cell_grad(gru_cell_grad, "contract", "quick", "values", "devices")
from gru_ref import check_conv2d_shapes, check_mlp_shapes, check_rnn_shapes
check_mlp_shapes(mlp_shapes, "contract", "quick", "values")
check_conv2d_shapes(conv2d_shapes, "contract", "quick", "values")
check_rnn_shapes(rnn_shapes, "contract", "quick", "values")
from gru_ref import check_gru_bptt
check_gru_bptt(gru_bptt, "contract", "quick", "values", "devices")
exec(SLIP)  # the learners' checker names a slip of backpropagation through time
try:
    check_gru_bptt(gru_bptt, "quick")
except AssertionError as exc:
    print("named:", LESSON in str(exc))
exec(LAYERS_MISTAKE)  # and a layers mistake, from the table the wheel installed
from gru_ref import check_my_gru_layers
try:
    check_my_gru_layers(my_gru_layers, "quick")
except AssertionError as exc:
    print("layers named:", LAYERS_LESSON in str(exc))
try:
    from gru_ref import gru_sequence
except ImportError as exc:
    print("no reference:", exc)
"""
    slip = SLIPS["bptt_state_grad_not_carried"]
    from gru_ref.assignments.gru_layers import LAYERS_MISTAKES
    from layers_code import WRONG
    layers_lesson = next(m.lesson for m in LAYERS_MISTAKES if m.name == "reverse_not_rereversed")
    script = script.replace("exec(LAYERS_MISTAKE)", f"exec({WRONG['reverse_not_rereversed']!r})").replace(
        "LAYERS_LESSON", repr(layers_lesson))
    script = script.replace("exec(SLIP)", f"exec({slip!r})").replace("LESSON", repr(lesson))
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Passed:") == 7 and "no reference:" in done.stdout, done.stdout
    assert "named: True" in done.stdout and "layers named: True" in done.stdout, done.stdout
    # train_gru as a learner runs it top to bottom: its setup cell (the Colab install line aside), the
    # solution, its visible tests (the "learns" one a whole retrain); the demonstrations skip themselves.
    notebook = json.loads((ROOT / "solutions" / "train_gru" / "train_gru.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"
             and not c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith(("compare", "test_train_and_predict_seeds"))]
    script = "\n".join(line if not line.lstrip().startswith("!") else line.replace("!", "pass  # !", 1)
                       for line in "\n\n".join(cells).splitlines())
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={**os.environ, "NBGRADER_EXECUTION": "autograde"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Passed:") == 3, done.stdout  # my_gru, the contract, one retrain
