"The cell-by-cell summary from made-up grids: routes chosen on validation, fold-paired differences, optimism from curves, no stray writes."
import json
from pathlib import Path
import nbformat, pandas as pd, pytest
from mllmsent.results import save_results
from mllmsent.experiments import run_experiment
from mllmsent.specs import CaptionSummary, SpecError
from mllmsent.summary import MULTI_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT/'nbs'/'experiments'/'caption_summary.ipynb'
PAPER = ROOT/'papers'/'mllmsent'
FOLDS = range(1, 6)

def made_up_run(root, val, test, point='C', points=(0.1, 1.0), gain=0.0, source='src', n_test=20):
    "A finished run folder: per-fold validation accuracy `val` and test score `test`; curves whose second point tests `gain` higher."
    out = Path(root)/f'source={source}__problem=p3__alpha=3'
    chosen = 'C' if point == 'C' else 'best_step'
    save_results(out, dict(source=source, problem='p3', alpha=3),
                 [dict(fold=k, n_test=n_test, n_val=10, val_accuracy=v, accuracy=t, f1_weighted=t, **{chosen: points[0]})
                  for k, v, t in zip(FOLDS, val, test)])
    curves = [dict(fold=k, **{point: p}, val_accuracy=v - .1 * i, monitor_accuracy=t + gain * i, monitor_f1_weighted=t + gain * i)
              for k, v, t in zip(FOLDS, val, test) for i, p in enumerate(points)]
    pd.DataFrame(curves).to_csv(out/'curves.csv', index=False)
    return out

@pytest.fixture
def world(tmp_path):
    "Two routes (frozen: wins validation in folds 1-2; fine-tuned: in 3-5, and its test-selected point gains 0.02), MLLMsent's log, a multi-caption run."
    made_up_run(tmp_path/'frozen', [.8, .8, .6, .6, .6], [.70, .70, .70, .70, .70])
    made_up_run(tmp_path/'tuned', [.7] * 5, [.80, .81, .80, .79, .80], point='step', points=(10, 20), gain=.02)
    rows = [dict(group=f'experiments-{s}', experiment=f'src-{m}-experiment-p3-alpha3', fold=k, n=20, accuracy=a, f1_weighted=a)
            for s, m, a in (('finetuning', 'bart', .79), ('not-finetuning', 'distil', .60)) for k in FOLDS]
    pd.DataFrame(rows).to_csv(tmp_path/'reported.csv', index=False)
    save_results(tmp_path/'multi', {}, [], extra={'paired': [dict(zip(MULTI_COLUMNS, ['p3', 3, 'src', 100, .75, .76, .01, '[-0.01, 0.03]', .3, .4]))]})
    return tmp_path

def params(world, **kw):
    return {**dict(routes={'frozen': str(world/'frozen'), 'tuned': str(world/'tuned'), 'never run': str(world/'nothing')},
                   optimism={'finetuning': 'tuned', 'not-finetuning': 'frozen'}, multi_caption=str(world/'multi'),
                   reported=str(world/'reported.csv'), paper_dir=str(world/'paper')), **kw}

def test_notebook_defines_nothing():
    code = [c.source for c in nbformat.read(NB, as_version=4).cells if c.cell_type == 'code']
    assert not [s for s in code if 'def ' in s or 'lambda' in s], 'caption_summary.ipynb must only call the library'

def test_summary_on_made_up_grids(world):
    default_run = ROOT/'runs'/'caption-summary'   # a real summary run may already be there: it must be left as it was
    state = lambda: (sorted(p.name for p in PAPER.iterdir()), default_run.exists() and sorted((p.name, p.stat().st_mtime_ns) for p in default_run.iterdir()))
    before = state()
    res = run_experiment(NB, params(world), world/'run', cwd=world)
    assert state() == before
    paper = world/'paper'
    assert res['extra']['files'] == sorted(p.name for p in paper.iterdir())
    assert res['extra']['routes_found'] == {'frozen': 1, 'tuned': 1, 'never run': 0}
    cell = res['extra']['cells'][0]
    assert cell['routes chosen on validation'] == 'tuned 3/5, frozen 2/5'
    assert cell['ours F1w'] == '0.758 ± 0.066'                # .70 .70 .80 .79 .80: validation chose, not the test rows
    assert cell['their route'] == 'bart (finetuning)' and cell['MLLMsent best F1w'] == '0.790 ± 0.000'
    assert cell['Δ [95% CI]'].startswith('-0.032') and cell['Δ'] == 'n.s.'
    assert cell['optimism [95% CI]'] == '+0.020 [+0.020, +0.020]'   # the fine-tuned route's, since their best is fine-tuned
    assert cell['Δ after optimism [95% CI]'].startswith('-0.012')
    assert res['extra']['counts'] == dict(cells=1, above=0, significantly_above=0, significantly_below=0, cells_with_optimism=1,
                                          above_after_optimism=0, significantly_above_after_optimism=0, significantly_below_after_optimism=0)
    md = (paper/'summary.md').read_text()
    assert 'above MLLMsent\'s best reported weighted F1 in 0 of 1 cells' in md and '## Several captioners at once' in md
    opt = {r['route']: r for r in res['extra']['optimism']}
    assert opt['frozen']['optimism [95% CI]'] == '+0.000 [+0.000, +0.000]' and opt['tuned']['folds gained'] == '5/5'
    assert {p.name for p in paper.glob('*.png')} == {'summary_selection_optimism_tuned.png', 'summary_selection_optimism_frozen.png'}

def test_unpaired_when_test_sizes_differ(world):
    made_up_run(world/'other', [.9] * 5, [.70] * 5, n_test=25)
    res = run_experiment(NB, params(world, routes={'other': str(world/'other')}, optimism={}, multi_caption=None), world/'run2', cwd=world)
    cell = res['extra']['cells'][0]
    assert cell['Δ [95% CI]'] == '-0.090' and cell['Δ'] == '–'   # a difference of means, no interval: the folds' rows are not the same
    assert not (world/'paper'/'summary.md').read_text().count('Several captioners')

def test_bad_parameters_name_the_field():
    with pytest.raises(SpecError, match="field 'optimism' names routes that are not in 'routes'"):
        CaptionSummary.parse({'routes': {'a': 'runs/a'}})
    with pytest.raises(SpecError, match="keys are MLLMsent settings"):
        CaptionSummary.parse({'routes': {'a': 'runs/a'}, 'optimism': {'frozen': 'a'}})
