"The docs build works without Quarto: nbdev processes the notebooks, nbconvert writes the pages."
import re
from mllmsent.docs import build_docs

def test_build_docs_without_quarto(tmp_path):
    out = build_docs(tmp_path/'site', file_glob='00_core.ipynb', quarto='never')
    page = (out/'00_core.html').read_text()
    text = re.sub(r'<[^>]+>', '', page)
    assert 'Tasks and label spaces' in page          # markdown rendered
    assert 'def label_code(' in text                  # show_doc of an exported function
    assert '#| export' not in text and '#| hide' not in text   # directives removed
    assert '<nav>' in page and 'index.html' in page  # sidebar links

def test_readme_is_made_from_index():
    from pathlib import Path
    from nbdev.config import get_config
    from mllmsent.docs import readme_text
    readme = get_config().config_path/'README.md'
    assert readme.read_text() == readme_text(), "README.md is stale: run `mllmsent-docs --readme`"

def test_every_notebook_gets_a_page(tmp_path):
    "The docs step runs the import/export/show_doc cells of every notebook: none may fail or depend on an example cell."
    from nbdev.config import get_config
    out = build_docs(tmp_path/'site', quarto='never', n_workers=2)
    nbs = get_config().nbs_path
    for nb in [*nbs.glob('[0-9]*.ipynb'), *nbs.glob('experiments/*.ipynb')]:
        page = out/nb.relative_to(nbs).with_suffix('.html')
        assert page.exists() and len(page.read_text()) > 2000, page
