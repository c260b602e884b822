"""The website: it builds without warnings, works in a real browser with no network, and leaks nothing.

The browser is Debian's Chromium (tools/install-browser.sh installs it), driven by Playwright's Python
package; no browser is ever downloaded. Every request to a host other than this machine is aborted
and recorded, so a page that needs the internet fails here exactly as it would offline.

Screenshots of every page land in _build/screenshots/.
"""
import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
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

    def _open(path):
        rec = recorder["current"] = Recorder()
        page = context.new_page()
        pages.append(page)
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

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / (docname.replace("/", "__") + ".png")), full_page=True)

    page.wait_for_load_state("networkidle")
    assert not rec.problems(), f"{docname}:\n" + "\n".join(rec.problems())


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


@pytest.mark.parametrize("assignment", ["gru", "rnn", "gru_layers"])
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
