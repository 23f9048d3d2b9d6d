"""The docs build: every notebook becomes a page with its title, no front matter or Quarto syntax in its text, the
outputs of its examples, and a sidebar of titles in notebook order. One build of the whole site (every notebook run)
is shared by the page checks."""
import html, json, re
from html import unescape
from pathlib import Path
import nbformat, pytest
from nbdev.config import get_config
from mllmsent.core import data_dir
from mllmsent.docs import build_docs, run_notebook, page_body, readme_text, sidebar_entries

CFG = get_config()
NBS = CFG.nbs_path
_DIRECTIVE = re.compile(r'^#\|\s*([\w-]+)\s*:?\s*(.*)$', re.MULTILINE)


def _h1(nb_path):
    "The notebook's H1, read here independently of the docs code."
    for c in nbformat.read(str(nb_path), as_version=4).cells:
        if c.cell_type == 'markdown' and (m := re.search(r'^#\s+(\S.*?)\s*$', c.source, re.MULTILINE)): return m[1]

def _examples(nb_path):
    "Code cells a reader sees and the docs build runs: not hidden or exported, not `eval: false`, not a skipped flag."
    skip = set(CFG.tst_flags.split()) - ({'data'} if data_dir() else set())
    out = []
    for c in nbformat.read(str(nb_path), as_version=4).cells:
        d = dict(m.groups() for m in _DIRECTIVE.finditer(c.source)) if c.cell_type == 'code' else {}
        if c.cell_type != 'code' or not c.source.strip() or d.keys() & {'hide', 'export', 'exports', 'exporti', 'default_exp'}: continue
        if d.get('eval', '').strip() == 'false' or d.keys() & skip: continue
        out.append(c)
    return out

def _visible_text(page):
    "The page's main text as a reader sees it, without code blocks and inline code (which may quote any syntax)."
    main = page.split('<main>', 1)[1]
    main = re.sub(r'<pre[\s>].*?</pre>|<code[\s>].*?</code>', ' ', main, flags=re.DOTALL)
    return re.sub(r'<[^>]+>', ' ', main)


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The whole site, every notebook run once (a few minutes on 2 busy cores)."
    tmp = tmp_path_factory.mktemp('docs')
    entries = sidebar_entries(NBS)   # before the build: a notebook someone adds meanwhile is not expected
    out = build_docs(tmp/'site', quarto='never', n_workers=2, cache=tmp/'proc')
    pages = {p: out/Path(p).with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', Path(p).name.lower())).with_suffix('.html')
             for _, p in entries}
    return out, tmp/'proc', pages


def test_every_notebook_has_a_titled_page(site):
    out, _, pages = site
    for p, page in pages.items():
        assert page.exists(), f"no page for {p}"
        html = page.read_text()
        title = _h1(NBS/p)
        assert title, f"{p} has no H1 title"
        assert unescape(re.search(r'<title>(.*?)</title>', html)[1]) == f'{title} – mllmsent', p   # as a browser shows it (&#x27; is ')
        assert unescape(re.search(r'<h1 class="title">(.*?)</h1>', html)[1]) == title, p


def test_no_front_matter_or_quarto_syntax_on_pages(site):
    _, _, pages = site
    for p, page in pages.items():
        text = _visible_text(page.read_text())
        assert not re.search(r'^\s*---\s*$', text, re.MULTILINE), f"{p}: front matter fence in the page text"
        for bad in ['output-file:', '{target=', 'style="float', ':::', '#| ']:
            assert bad not in text, f"{p}: {bad!r} in the page text"


def test_pages_show_their_examples_outputs(site):
    "Each notebook with examples shows their outputs; an experiment notebook's page says why it shows none."
    _, _, pages = site
    for p, page in pages.items():
        html = page.read_text()
        if p.startswith('experiments/'): assert 'This is an experiment notebook' in html, p
        elif _examples(NBS/p):
            shown = re.findall(r'<div class="output_area">\s*<div class="([^"]*)"', html)
            assert any('output_error' not in c for c in shown), f"{p} has examples but its page shows no output"


def test_no_example_failed_in_the_docs_build(site):
    "A cell that fails in the build shows its traceback on the page; here, none may (the page is the proof)."
    _, proc, pages = site
    failed = {p: json.loads((proc/p).read_text())['metadata']['mllmsent_docs']['errors'] for p in pages}
    failed = {p: e for p, e in failed.items() if e}
    assert not failed, 'cells failed in the docs build:\n' + '\n'.join(f"{p}: {x['cell']!r}: {x['error']}" for p, e in failed.items() for x in e)
    for p, page in pages.items(): assert '<div class="problems">' not in page.read_text(), p


def test_sidebar_lists_titles_in_notebook_order(site):
    _, _, pages = site
    nav = pages['00_core.ipynb'].read_text().split('<nav class="sidebar">', 1)[1].split('</nav>', 1)[0]
    labels = [html.unescape(l) for l in re.findall(r'<a(?: class="here")? href="[^"]*">([^<]*)</a>', nav)]
    assert labels == [_h1(NBS/p) for p in pages if p != 'index.ipynb']   # the index is the brand link
    assert '<div class="section">Experiments</div>' in nav
    assert '<a class="here" href="core.html">Core</a>' in nav


def test_links_between_pages_are_relative(site):
    "nbdev links names to the published site; offline, they point at the pages here (Quarto-style lower-case anchors)."
    _, _, pages = site
    html = pages['01_data.ipynb'].read_text()
    assert 'href="https://mllmsent.github.io' not in html
    m = re.search(r'href="core.html#(\w+)"', html) or re.search(r'href="data.html#(\w+)"', html)
    assert m and f'id="{m[1]}"' in (pages['00_core.ipynb'] if 'core.html' in m[0] else pages['01_data.ipynb']).read_text()


def _small_nb(path, heading, *codes):
    "Write a notebook with a titled markdown cell and the code cells `codes`."
    cells = [nbformat.v4.new_markdown_cell(heading)] + [nbformat.v4.new_code_cell(c) for c in codes]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), str(path))


def test_a_notebook_that_runs_too_long_is_stopped_and_its_page_says_so(tmp_path):
    _small_nb(tmp_path/'slow.ipynb', '# Slow\n> Sleeps.', 'print("before")', 'import time; time.sleep(120)')
    res = run_notebook(tmp_path/'slow.ipynb', tmp_path/'proc'/'slow.ipynb', timeout=15)
    assert res['status'] == 'timeout' and 'ran past 15 s' in res['errors'][0]['error']
    assert res['seconds'] < 60
    fm, body, info = page_body(tmp_path/'proc'/'slow.ipynb')
    assert fm['title'] == 'Slow' and 'were not run' in body and not info['executed']


def test_a_failing_cell_is_shown_and_reported(tmp_path):
    _small_nb(tmp_path/'fails.ipynb', '# Fails\n> Raises.', "raise ValueError('bad row 3')", "print('still runs')")
    res = run_notebook(tmp_path/'fails.ipynb', tmp_path/'proc'/'fails.ipynb', timeout=120)
    assert res['status'] == 'errors' and res['errors'][0]['error'] == 'ValueError: bad row 3'
    _, body, _ = page_body(tmp_path/'proc'/'fails.ipynb')
    assert 'bad row 3' in body and 'still runs' in body


def test_readme_is_made_from_index():
    readme = CFG.config_path/'README.md'
    assert readme.read_text() == readme_text(), "README.md is stale: run `mllmsent-docs --readme`"
