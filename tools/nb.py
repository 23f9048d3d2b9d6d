"""Developer helper: convert between an editable percent-format script and a notebook.

    python tools/nb.py to-nb  /tmp/00_core.py nbs/00_core.ipynb   # write the notebook (atomically)
    python tools/nb.py to-py  nbs/00_core.ipynb /tmp/00_core.py   # get an editable script back

Cells are separated by `# %%` (code) and `# %% [markdown]` (markdown, lines prefixed by `# `).
This is a thin wrapper over jupytext so notebooks keep nbdev's kernel metadata.
"""
import sys, os, tempfile, jupytext, nbformat

def to_nb(src, dst):
    nb = jupytext.read(src, fmt='py:percent')
    nb.metadata = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}}
    for c in nb.cells:
        c.metadata = {k: v for k, v in c.metadata.items() if k == 'tags'}
        if c.cell_type == 'code': c.outputs, c.execution_count = [], None
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dst)), suffix='.ipynb')
    os.close(fd)
    nbformat.write(nb, tmp)
    os.replace(tmp, dst)

def to_py(src, dst):
    nb = jupytext.read(src)
    jupytext.write(nb, dst, fmt='py:percent')

if __name__ == '__main__':
    cmd, src, dst = sys.argv[1:4]
    {'to-nb': to_nb, 'to-py': to_py}[cmd](src, dst)
