"""The multi-captioner experiment through papermill on a fixture data folder of three made-up captioners: its files,
its table, and paired numbers that agree with the per-fold predictions it wrote."""
import json
from pathlib import Path
import numpy as np, pandas as pd, pytest
from sklearn.metrics import f1_score
from mllmsent.evaluate import mcnemar, format_mean_ci
from mllmsent.experiments import run_experiment, ExperimentError
from mllmsent.multi_caption import demo_caption_sets, DEMO_NOISES

NB = Path(__file__).resolve().parents[1]/'nbs'/'experiments'/'multi_caption.ipynb'
SOURCES = list(DEMO_NOISES)   # demo-clean, demo-some, demo-noisy

@pytest.fixture(autouse=True)
def offline(monkeypatch):   # papermill's kernel inherits the environment
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setenv('OMP_NUM_THREADS', '1')

def fixture_data(folder:Path)->Path:
    """MLLMsent-named caption files of three made-up captioners, P3/P5 at alpha 3 and 5 (alpha 5: 60 of the 90 rows).
    demo-noisy lacks one P3 alpha3 row, and demo-clean's folds are shuffled: the shared rows must keep `folds_from`'s."""
    folder.mkdir()
    for problem in ('p3', 'p5'):
        for s, df in demo_caption_sets(problem, n=90).items():
            if s == 'demo-clean': df = df.assign(fold=np.random.default_rng(1).permutation(df.fold.to_numpy()))
            for alpha, rows in ((3, df), (5, df[df.index % 3 != 0])):
                if (s, problem, alpha) == ('demo-noisy', 'p3', 3): rows = rows.iloc[1:]
                rows.to_csv(folder/f'{s}_{problem}_alpha{alpha}.csv', index=False)
    return folder

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('multi')
    data = fixture_data(tmp/'data')
    res = run_experiment(NB, dict(sources=SOURCES, folds_from='demo-some', data_dir=str(data), cache_dir=str(tmp/'cache'),
                                  papers_dir=str(tmp/'papers'), n_boot=200), tmp/'run', cwd=tmp)
    return res, tmp

def test_files_and_table(run):
    res, tmp = run
    out = tmp/'run'
    assert not res['extra']['demo'] and res['extra']['sources'] == SOURCES and res['extra']['folds_from'] == 'demo-some'
    assert res['extra']['shared_rows'] == {'p3_alpha3': 89, 'p3_alpha5': 60, 'p5_alpha3': 90, 'p5_alpha5': 60}
    for f in ('results.json', 'per_fold.csv', 'predictions.csv', 'per_fold_all_systems.csv', 'multi_caption.md', 'multi_caption.tex'):
        assert (out/f).is_file(), f
    assert (tmp/'papers'/'multi_caption.md').read_text() == (out/'multi_caption.md').read_text()
    assert len(list((out/'cells').rglob('results.json'))) == 4 * 4                       # 4 cells x (3 sources + multi-caption)
    assert len(res['per_fold']) == 20 and {f['combine'] for f in res['per_fold']} <= {'concat', 'average'}
    lines = (out/'multi_caption.md').read_text().splitlines()
    assert lines[0].startswith('| problem | alpha | n | captions | acc | F1w | validation chose | Δacc [95% CI] |')
    rows = [l for l in lines[2:] if l.startswith('| ')]
    assert len(rows) == 16 and sum('(best single)' in l for l in rows) == 4 and sum('| multi-caption |' in l for l in rows) == 4

def test_shared_rows_keep_the_folds_of_folds_from(run):
    _, tmp = run
    split = pd.read_csv(tmp/'run'/'splits'/'p5_alpha3.csv', dtype={'id': str})
    some = pd.read_csv(tmp/'data'/'demo-some_p5_alpha3.csv', dtype={'id': str}).set_index('id').fold
    test = split[split.part == 'test']
    assert len(test) == 90 and (test.split.to_numpy() == some.loc[test.id].to_numpy()).all()

def test_paired_numbers_agree_with_the_predictions(run):
    res, tmp = run
    preds = pd.read_csv(tmp/'run'/'predictions.csv', dtype={'id': str})
    folds = pd.read_csv(tmp/'run'/'per_fold_all_systems.csv')
    assert len(res['extra']['paired']) == 4
    for pair in res['extra']['paired']:
        cell = (preds.problem == pair['problem']) & (preds.alpha == pair['alpha'])
        means = folds[(folds.problem == pair['problem']) & (folds.alpha == pair['alpha'])].groupby('system').accuracy.mean()
        assert pair['best source'] == means.drop('multi-caption').idxmax()
        a = preds[cell & (preds.system == pair['best source'])].set_index('id').sort_index()
        b = preds[cell & (preds.system == 'multi-caption')].set_index('id').sort_index()
        assert list(a.index) == list(b.index) and len(a) == pair['n'] and (a.label == b.label).all()
        acc_a, acc_b = (a.prediction == a.label).mean(), (b.prediction == b.label).mean()
        f1 = lambda d: f1_score(d.label, d.prediction, average='weighted', zero_division=0)
        assert (pair['acc best single'], pair['acc multi-caption'], pair['diff']) == pytest.approx((acc_a, acc_b, acc_b - acc_a), abs=6e-4)
        assert (pair['F1w best single'], pair['F1w diff']) == pytest.approx((f1(a), f1(b) - f1(a)), abs=6e-4)
        lo, hi = json.loads(pair['diff 95% CI'])
        assert lo <= round(acc_b - acc_a, 3) + 1e-3 and hi >= round(acc_b - acc_a, 3) - 1e-3
        assert pair['McNemar p'] == pytest.approx(mcnemar(a.label, a.prediction, b.prediction)['p_value'], abs=6e-5)

def test_table_cells_are_the_fold_means(run):
    res, tmp = run
    multi = pd.DataFrame(res['per_fold'])
    p3a5 = multi[(multi.problem == 'p3') & (multi.alpha == 5)]
    row = next(l for l in (tmp/'run'/'multi_caption.md').read_text().splitlines() if l.startswith('| p3 | 5 |') and 'multi-caption' in l)
    assert f"| {format_mean_ci(p3a5.accuracy)} | {format_mean_ci(p3a5.f1_weighted)} |" in row

def test_demo_refuses_to_write_a_paper_table(tmp_path, monkeypatch):
    monkeypatch.delenv('MLLMSENT_DATA', raising=False)   # and tmp_path has no shared/data above it: the demo captioners
    with pytest.raises(ExperimentError, match='paper tables are made from the real captions only'):
        run_experiment(NB, dict(papers_dir=str(tmp_path/'papers')), tmp_path/'run', cwd=tmp_path)
    assert not (tmp_path/'papers').exists()
