"Caption tables from grids of runs: a caption source MLLMsent never reported, paired tests on shared rows, no stray writes."
import hashlib, json
from pathlib import Path
import nbformat, pandas as pd, pytest
from mllmsent.results import save_results
from mllmsent.experiments import run_experiment
from mllmsent.tables import grid_runs, beside_reported, paired_runs, per_class_f1_figure, CELL_KEYS

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT/'nbs'/'experiments'/'caption_tables.ipynb'
PAPER = ROOT/'papers'/'mllmsent'

def fake_run(root, source, accuracy, ids, labels, predictions, problem='p3', alpha=3):
    "A finished run folder of a caption grid, made up: five folds near `accuracy` and a predictions.csv."
    out = Path(root)/f'source={source}__problem={problem}__alpha={alpha}'
    save_results(out, dict(source=source, problem=problem, alpha=alpha, model='minilm'),
                 [dict(fold=k, n=20, accuracy=accuracy + d, f1_weighted=accuracy - 0.05 + d) for k, d in enumerate((-.02, -.01, 0, .01, .02), 1)])
    pd.DataFrame({'id': ids, 'fold': 1, 'label': labels, 'prediction': predictions}).to_csv(out/'predictions.csv', index=False)
    return out

IDS = [f'{i:03d}' for i in range(10)]           # numeric-looking ids: must stay strings ('007', not 7)
LABELS = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]

@pytest.fixture
def grids(tmp_path):
    "Two tiny grids: frozen runs minigpt4 and a new source `my-mllm`; fine-tuned runs minigpt4 on rows 003..012 (7 shared)."
    frozen, tuned = tmp_path/'grid-frozen', tmp_path/'grid-tuned'
    fake_run(frozen, 'minigpt4', 0.70, IDS, LABELS, [0, 1, 2, 0, 1, 0, 0, 2, 2, 0])
    fake_run(frozen, 'my-mllm', 0.60, IDS, LABELS, [0, 0, 2, 0, 1, 0, 1, 2, 2, 1])
    fake_run(tuned, 'minigpt4', 0.75, [f'{i:03d}' for i in range(3, 13)], LABELS[3:] + [1, 2, 0], [0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    reported = tmp_path/'reported_folds.csv'   # MLLMsent's per-fold log, made up, in its columns
    rows = [dict(group=g, experiment=e, fold=k, accuracy=a + k/100, f1_weighted=a)
            for g, e, a in (('experiments-not-finetuning', 'bart-experiment-p3-alpha3', 0.59),
                            ('experiments-not-finetuning', 'distil-experiment-p3-alpha3', 0.66),
                            ('experiments-finetuning', 'bart-experiment-p3-alpha3', 0.69)) for k in range(1, 6)]
    pd.DataFrame(rows).to_csv(reported, index=False)
    return frozen, tuned, reported

def snapshot():
    "What this notebook could write into the repository: names at its top levels, and the committed caption tables' bytes."
    names = {str(p) for d in (ROOT, PAPER, NB.parent) for p in d.iterdir()}
    default_run = ROOT/'runs'/'caption-tables'   # the spec's default output_dir (others' runs may come and go beside it)
    tables = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in PAPER.glob('caption_minilm_*')}
    return names, tables, sorted(default_run.rglob('*')) if default_run.exists() else None

def md_rows(path):
    "A Markdown table's rows as lists of cells (header first, separator left out)."
    lines = [l for l in Path(path).read_text().splitlines() if l.startswith('|') and not l.startswith('|---')]
    return [[c.strip() for c in l.strip('|').split(' | ')] for l in lines]

def test_notebook_defines_nothing():
    code = [c.source for c in nbformat.read(NB, as_version=4).cells if c.cell_type == 'code']
    assert not [s for s in code if 'def ' in s or 'lambda' in s], 'caption_tables.ipynb must only call the library'
    assert any(s.strip().startswith('spec = {}') for s in code)

def test_notebook_on_made_up_grids(grids, tmp_path):
    frozen, tuned, reported = grids
    before = snapshot()
    paper = tmp_path/'paper'
    res = run_experiment(NB, dict(frozen_root=str(frozen), finetune_root=str(tuned), paper_dir=str(paper), reported=str(reported),
                                  finetune_name='finetuned_test', figure_alpha=3), tmp_path/'run', cwd=tmp_path)
    assert snapshot() == before                 # nothing written into the repository, the committed tables untouched
    assert res['extra']['tables'] == sorted(p.name for p in paper.iterdir())
    # the frozen table: the committed format, our new source's row with blank MLLMsent cells
    t = md_rows(paper/'caption_minilm_frozen.md')
    assert t[0] == ['source', 'problem', 'alpha', 'MiniLM frozen acc', 'MiniLM frozen F1w', 'MLLMsent bart acc', 'MLLMsent distil acc']
    assert t[0][:5] == md_rows(PAPER/'caption_minilm_frozen.md')[0][:5]
    assert t[1] == ['minigpt4', 'p3', '3', '0.700 ± 0.020', '0.650 ± 0.020', '0.620 ± 0.020', '0.690 ± 0.020']
    assert t[2] == ['my-mllm', 'p3', '3', '0.600 ± 0.020', '0.550 ± 0.020', '–', '–']
    assert (paper/'caption_minilm_frozen.tex').read_text().startswith(r'\begin{table}[ht]')
    # the fine-tuned table: MLLMsent fine-tuned no DistilBERT, so no column for it
    assert md_rows(paper/'caption_minilm_finetuned_test.md')[0][-1] == 'MLLMsent bart acc'
    # the paired table: only the rows both runs predicted
    p = md_rows(paper/'caption_minilm_paired_finetuned_test.md')
    assert p[0] == md_rows(PAPER/'caption_minilm_paired_finetuned_cpu_1epoch.md')[0]
    assert len(p) == 2 and p[1][:4] == ['minigpt4', 'p3', '3', '7']
    assert res['extra']['paired'][0]['n'] == 7 == len(set(IDS) & {f'{i:03d}' for i in range(3, 13)})
    assert [p.name for p in paper.glob('*.png')] == ['caption_minilm_per_class_f1_p3_a3_finetuned_test.png']   # no P5 run
    assert {c['source'] for c in res['extra']['cells']} == {'minigpt4', 'my-mllm'}

def test_only_a_new_source_still_gets_reported_columns(grids):
    runs = grid_runs(grids[0])
    rep = pd.DataFrame({'model': ['bart'], 'source': ['minigpt4'], 'problem': ['p3'], 'alpha': [3], 'accuracy_mean': [0.6], 'accuracy_hw': [0.01]})
    t = beside_reported(runs[runs.source == 'my-mllm'], 'Mine', rep, models=['bart', 'modernbert'])
    assert list(t.frame.columns) == [*CELL_KEYS, 'Mine acc', 'Mine F1w', 'MLLMsent bart acc']
    assert t.frame['MLLMsent bart acc'].tolist() == ['–']

def test_alpha_read_back_as_float_still_matches(grids):
    runs = grid_runs(grids[0]).astype({'alpha': float})
    rep = pd.DataFrame({'model': ['bart'], 'source': ['minigpt4'], 'problem': ['p3'], 'alpha': [3], 'accuracy_mean': [0.6], 'accuracy_hw': [0.01]})
    assert beside_reported(runs, 'x', rep, models=['bart']).frame['MLLMsent bart acc'].tolist() == ['0.600 ± 0.010', '–']

def test_missing_or_empty_grids(tmp_path, grids):
    assert grid_runs(tmp_path/'nothing').columns.tolist() == ['run', *CELL_KEYS, 'path']
    (tmp_path/'empty').mkdir()
    empty = grid_runs(tmp_path/'empty')
    assert len(empty) == 0 and len(paired_runs(grid_runs(grids[0]), empty)) == 0
    assert beside_reported(empty, 'x', pd.DataFrame(columns=['model', *CELL_KEYS])).frame.shape == (0, 5)
    assert per_class_f1_figure({'frozen': empty}, 'p3', 3) is None

def test_paired_runs_refuses_runs_on_different_labels(tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    fake_run(a, 'minigpt4', 0.7, IDS, LABELS, LABELS)
    fake_run(b, 'minigpt4', 0.7, IDS, [2] + LABELS[1:], LABELS)
    with pytest.raises(ValueError, match=r'different labels to 1 of the 10 rows'): paired_runs(grid_runs(a), grid_runs(b))

def test_another_model_named_and_paired_with_minilm(grids, tmp_path):
    "`name`/`label` name another model's files and columns; `versus_root` pairs its frozen runs with MiniLM's on the shared rows."
    frozen, tuned, reported = grids
    paper = tmp_path/'paper'
    res = run_experiment(NB, dict(frozen_root=str(tuned), finetune_root=str(tmp_path/'none'), versus_root=str(frozen), name='smol',
                                  label='Smol', paper_dir=str(paper), reported=str(reported), figure_alpha=3), tmp_path/'run', cwd=tmp_path)
    assert not list(paper.glob('caption_minilm_*'))
    assert md_rows(paper/'caption_smol_frozen.md')[0][3:5] == ['Smol frozen acc', 'Smol frozen F1w']
    p = md_rows(paper/'caption_smol_paired_vs_minilm.md')
    assert p[0][:6] == ['source', 'problem', 'alpha', 'n', 'acc MiniLM', 'acc Smol'] and 'F1w diff' in p[0]
    assert len(p) == 2 and p[1][:4] == ['minigpt4', 'p3', '3', '7']
    assert res['extra']['paired_versus'][0]['n'] == 7
