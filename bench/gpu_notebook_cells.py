"""GPU suite, check 4: run the code of every `#| gpu` cell of the notebooks in nbs/, after the cells it depends on.

    python bench/gpu_notebook_cells.py --out notebooks.json [--budget 150] [--sequential]
    python bench/gpu_notebook_cells.py --list                      # the notebooks and their gpu cells, nothing run

For each notebook with a `#| gpu` cell it runs, in one namespace and in the notebook's folder (as `nbdev-test --flags gpu`
would), every code cell up to its last gpu cell, except cells that `nbdev-test` would skip (`#| eval: false`, or
flagged with another of pyproject's `tst_flags`, such as `slow` or `data`) and cells that need nbdev or IPython
(`show_doc`, magics: neither exists on the GPU machine). The notebooks are read, never written. Each notebook runs in
its own process (in parallel unless `--sequential`; a notebook's own numbers, such as peak GPU memory, are per process),
under the time left in `--budget`. The JSON lists every cell run: its seconds, `ok`, the error (traceback's last lines)
and the repr of its last expression, which is what the notebook page would show.

Without CUDA the gpu cells are reported `skipped` after being extracted and compiled (a syntax check); with
`--setup-on-cpu` the cells before them still run (the smoke test does so).
"""
import argparse, ast, json, os, shutil, subprocess, sys, tempfile, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
NEEDS_IPYTHON = ('show_doc', 'nbdev', 'get_ipython')


def tst_flags()->set:
    "The cell flags `nbdev-test` skips unless asked for (pyproject's [tool.nbdev] tst_flags), read without nbdev."
    try: import tomllib
    except ImportError: return {'slow', 'gpu', 'data'}
    cfg = tomllib.loads((ROOT/'pyproject.toml').read_text()).get('tool', {}).get('nbdev', {})
    return set(str(cfg.get('tst_flags', 'slow gpu data')).split())


def directives(src:str)->dict:
    "The `#|` directives at the top of a cell: {'gpu': '', 'eval:': 'false', ...}."
    out = {}
    for line in src.splitlines():
        s = line.strip()
        if not s: continue
        if not s.startswith('#|'): break
        parts = s[2:].strip().split(None, 1)
        if parts: out[parts[0].rstrip(':')] = parts[1].strip() if len(parts) > 1 else ''
    return out


def notebook_cells(path)->list:
    "Code cells of a notebook as dicts: index, source, directives (a plain JSON read; the notebook is not changed)."
    nb = json.loads(Path(path).read_text())
    cells = []
    for i, c in enumerate(nb['cells']):
        if c.get('cell_type') != 'code': continue
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        cells.append(dict(index=i, source=src, directives=directives(src)))
    return cells


def plan(path, flags=None)->list:
    "The cells to run for a notebook's gpu cells, each with `role` ('setup' or 'gpu') or `skip` (why it is left out)."
    flags = tst_flags() if flags is None else flags
    cells = notebook_cells(path)
    gpu_at = [k for k, c in enumerate(cells) if 'gpu' in c['directives']]
    if not gpu_at: return []
    out = []
    for c in cells[:gpu_at[-1] + 1]:
        d, skip = c['directives'], None
        if 'gpu' in d: role = 'gpu'
        else:
            role = 'setup'
            if d.get('eval') == 'false': skip = 'eval: false'
            elif flags & set(d) - {'gpu'}: skip = f"flag {sorted(flags & set(d))[0]} (not run by nbdev-test --flags gpu)"
        body = '\n'.join(l for l in c['source'].splitlines() if not l.strip().startswith('#|'))
        if not skip and (any(w in body for w in NEEDS_IPYTHON) or any(l.lstrip().startswith(('%', '!')) for l in body.splitlines())):
            skip = 'needs nbdev or IPython (show_doc, magics): docs only'
        out.append(dict(index=c['index'], role=role, skip=skip, source=body))
    return out


def gpu_notebooks(nbs=NBS)->list:
    "Notebooks (paths) that hold at least one `#| gpu` cell; scratch notebooks (`_*`) and checkpoints excluded."
    return [p for p in sorted(Path(nbs).rglob('*.ipynb'))
            if not p.name.startswith('_') and '.ipynb_checkpoints' not in p.parts
            and any('gpu' in c['directives'] for c in notebook_cells(p))]


def _rel(path)->str:
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def run_cell(src:str, ns:dict):
    "Execute a cell like IPython: every statement, then the value of a last bare expression (its repr is returned)."
    tree = ast.parse(src)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, '<cell>', 'exec'), ns)
    if last is None: return None
    value = eval(compile(ast.Expression(last.value), '<cell>', 'eval'), ns)
    return None if value is None else repr(value)[:1000]


def run_notebook(path, out, setup_on_cpu=False, cuda=None):
    "Run one notebook's plan in this process, writing `out` (JSON) after every cell; `cuda=False` runs no cell (no torch import)."
    if cuda is None or cuda or setup_on_cpu:
        import torch
        cuda = torch.cuda.is_available()
    res = dict(notebook=_rel(path), cuda=cuda, cells=[], status='running')
    def save(): Path(out).write_text(json.dumps(res, indent=1, default=str))
    steps = plan(path)
    for c in steps:   # compile everything first: a syntax error shows even where nothing runs
        try: compile(c['source'], f"{path}:cell{c['index']}", 'exec'); c['compiles'] = True
        except SyntaxError as e: c['compiles'] = False; c['syntax_error'] = str(e)
    run_setup = cuda or setup_on_cpu
    ns = {'__name__': '__main__'}
    if run_setup: os.chdir(Path(path).parent)
    for c in steps:
        r = dict(index=c['index'], role=c['role'], compiles=c['compiles'], lines=len(c['source'].splitlines()))
        if c['skip']: r.update(status='skipped', reason=c['skip'])
        elif c['role'] == 'gpu' and not cuda: r.update(status='skipped', reason='no CUDA GPU here (extracted and compiled only)')
        elif c['role'] == 'setup' and not run_setup: r.update(status='skipped', reason='setup not run on a CPU (--setup-on-cpu runs it)')
        else:
            res['running_cell'] = c['index']; save()    # what was running if the process is killed
            if cuda and c['role'] == 'gpu': torch.cuda.reset_peak_memory_stats()
            t = time.perf_counter()
            try:
                r['value'] = run_cell(c['source'], ns); r['status'] = 'ok'
            except BaseException as e:   # noqa: BLE001 -- reported, and the next cells still run
                r.update(status='error', error=f'{type(e).__name__}: {e}'[:2000],
                         traceback_tail=traceback.format_exc().strip().splitlines()[-10:])
                if isinstance(e, KeyboardInterrupt): raise
            r['seconds'] = round(time.perf_counter() - t, 2)
            if cuda and c['role'] == 'gpu': r['peak_gpu_gib'] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        res['cells'].append(r); save()
    res.pop('running_cell', None)
    res['status'] = 'ok' if all(r['status'] != 'error' and r['compiles'] for r in res['cells']) else 'failed'
    save()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', help='the JSON this check writes')
    ap.add_argument('--budget', type=float, default=150, help='seconds for all notebooks together (each process is killed after)')
    ap.add_argument('--sequential', action='store_true', help='one notebook after the other (default: all at once)')
    ap.add_argument('--setup-on-cpu', action='store_true', help='without CUDA, still run the cells before the gpu cells')
    ap.add_argument('--list', action='store_true', help='print the notebooks and their gpu cells, run nothing')
    ap.add_argument('--notebook', help=argparse.SUPPRESS)     # internal: run one notebook in this process
    a = ap.parse_args(argv)
    if a.notebook: run_notebook(a.notebook, a.out, a.setup_on_cpu); return 0
    nbs = gpu_notebooks()
    if a.list:
        for p in nbs: print(_rel(p), [c['index'] for c in plan(p) if c['role'] == 'gpu'])
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_common import Report
    rep = Report(a.out, 'notebooks', notebooks={}, budget_s=a.budget, parallel=not a.sequential)
    tmp = Path(tempfile.mkdtemp(prefix='gpu-cells-'))
    def record(p, r):
        rep.d['notebooks'][p.stem] = r
        if r['status'] != 'ok': rep.d['errors'][p.stem] = dict(error=f"{r['status']}: " + '; '.join(
            f"cell {c['index']}: {c.get('error') or c.get('syntax_error') or ''}"[:300] for c in r['cells']
            if c['status'] == 'error' or not c['compiles']))
        rep.save()
    if not rep.d['cuda'] and not a.setup_on_cpu:     # nothing is run: extract and compile in this process
        for p in nbs:
            run_notebook(p, tmp/f'{p.stem}.json', cuda=False)
            record(p, dict(json.loads((tmp/f'{p.stem}.json').read_text()), seconds=0.0))
        queue = []
    else: queue = list(nbs)
    t0, procs = time.perf_counter(), {}
    while queue or procs:
        while queue and (not a.sequential or not procs):
            p = queue.pop(0)
            cmd = [sys.executable, __file__, '--notebook', str(p), '--out', str(tmp/f'{p.stem}.json')] + (['--setup-on-cpu'] if a.setup_on_cpu else [])
            procs[p] = (subprocess.Popen(cmd, stdout=sys.stderr, stderr=sys.stderr), time.perf_counter())
        time.sleep(0.2)
        for p in list(procs):
            (proc, started), killed = procs.pop(p), False
            if proc.poll() is None:
                if time.perf_counter() - t0 <= a.budget: procs[p] = (proc, started); continue
                proc.kill(); proc.wait(); killed = True    # out of time: the cells it finished are in its JSON
            part = tmp/f'{p.stem}.json'
            r = json.loads(part.read_text()) if part.exists() else dict(notebook=_rel(p), cells=[], status=None)
            r.update(seconds=round(time.perf_counter() - started, 1), exit_code=proc.returncode)
            if killed: r['status'] = 'timeout'
            elif r.get('status') in (None, 'running'): r['status'] = 'crashed'
            record(p, r)
    shutil.rmtree(tmp, ignore_errors=True)
    cells = [c for r in rep.d['notebooks'].values() for c in r['cells'] if c['role'] == 'gpu']
    n = {s: sum(c['status'] == s for c in cells) for s in ('ok', 'error', 'skipped')}
    return rep.finish(f"{len(nbs)} notebooks, {len(cells)} gpu cells: {n['ok']} ok, {n['error']} failed, {n['skipped']} skipped"
                      + ''.join(f"; {k} {r['status']} in {r['seconds']} s" for k, r in rep.d['notebooks'].items())
                      + ''.join(f"; {k} cell {c['index']}: {c.get('value')}" for k, r in rep.d['notebooks'].items()
                                for c in r['cells'] if c['role'] == 'gpu' and c['status'] == 'ok'))


if __name__ == '__main__': sys.exit(main())
