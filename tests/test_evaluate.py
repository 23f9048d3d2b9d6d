"Edge cases of metrics, fold summaries, paired tests and figures that read badly as a docs page."
import math, json
import numpy as np, pytest
from mllmsent.evaluate import (classification_metrics, regression_metrics, multilabel_metrics,
                               task_metrics, summarize_folds, format_mean_ci, paired_bootstrap, mcnemar,
                               plot_confusion, plot_per_class_f1, save_figure)
import pandas as pd

T_975_DF2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom (tables)

def test_classification_names_and_order():
    m = classification_metrics(['positive', 'neutral', 'negative', 'negative'], ['positive', 'negative', 'negative', 'neutral'], labels='p3')
    assert m['labels'] == ['neutral', 'negative', 'positive']
    assert m['confusion'] == [[0, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert m['accuracy'] == 0.5
    assert m['per_class']['negative'] == dict(precision=0.5, recall=0.5, f1=0.5, support=2)
    assert math.isclose(m['f1_weighted'], (0*1 + 0.5*2 + 1*1) / 4)

def test_prediction_outside_labels_counts_wrong_and_absent_class_kept():
    m = classification_metrics([0, 0, 1, 1], [0, -1, 1, 1], labels=[0, 1, 2])
    assert m['accuracy'] == 0.75
    assert m['confusion'] == [[1, 0, 0], [0, 2, 0], [0, 0, 0]]   # the -1 row falls outside the matrix
    assert m['per_class']['0']['recall'] == 0.5 and m['per_class']['2']['support'] == 0
    assert json.loads(json.dumps(m)) == m                          # plain python types only

def test_labels_default_to_sorted_union():
    assert classification_metrics([2, 0], [1, 0])['labels'] == ['0', '1', '2']

@pytest.mark.parametrize('fn', [classification_metrics, regression_metrics, lambda a, b: multilabel_metrics(a, b, 'e_c')])
def test_rows_must_align(fn):
    with pytest.raises(ValueError, match='do not align'): fn([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match='No rows'): fn([], [])

@pytest.mark.parametrize('fn', [paired_bootstrap, mcnemar])
def test_paired_rows_must_align(fn):
    with pytest.raises(ValueError, match=r"'pred_b': 2"): fn([0, 1, 1], [0, 1, 1], [0, 1])

def test_regression_hand_values():
    r = regression_metrics([1, 2, 3], [2, 4, 6])
    assert math.isclose(r['pearson'], 1) and math.isclose(r['spearman'], 1)
    assert math.isclose(r['mae'], 2) and math.isclose(r['rmse'], math.sqrt(14/3))

def test_multilabel_empty_sets_strings_and_unknown():
    m = multilabel_metrics([[], 'joy,love', None], [[], ['joy', 'love'], float('nan')], 'e_c')
    assert m['jaccard'] == 1.0 and m['f1_micro'] == 1.0
    assert multilabel_metrics([['joy']], [['fear']], ['joy', 'fear'])['jaccard'] == 0.0
    with pytest.raises(ValueError, match=r"Row 1: true label\(s\) \['glee'\]"):
        multilabel_metrics([['joy'], ['glee']], [['joy'], []], 'e_c')

def test_task_metrics_dispatch():
    assert set(task_metrics('e_c', [['joy']], [['joy']])) >= {'jaccard', 'f1_micro'}
    assert task_metrics('mvsa', ['negative', 'positive'], ['negative', 'neutral'])['labels'] == ['negative', 'neutral', 'positive']

def test_summarize_folds_hand_values():
    s = summarize_folds([1, 2, 3])
    assert (s['mean'], s['std'], s['n']) == (2.0, 1.0, 3)
    assert math.isclose(s['half_width'], T_975_DF2 / math.sqrt(3), rel_tol=1e-9)
    assert math.isclose(s['ci_low'], 2 - s['half_width']) and math.isclose(s['ci_high'], 2 + s['half_width'])
    assert summarize_folds([1, 2, 3], confidence=0.9)['half_width'] < s['half_width']

def test_summarize_folds_edges():
    one = summarize_folds([0.7])
    assert one['mean'] == 0.7 and one['n'] == 1 and math.isnan(one['std']) and math.isnan(one['half_width'])
    with pytest.raises(ValueError, match='no values'): summarize_folds([])
    with pytest.raises(ValueError, match=r'position \[0, 2\]'): summarize_folds([float('nan'), 1, float('nan')])
    assert summarize_folds([0.5, 0.5, 0.5])['half_width'] == 0.0

def test_format_mean_ci():
    assert format_mean_ci({'mean': 0.69192, 'half_width': 0.012935}) == '0.692 ± 0.013'
    assert format_mean_ci({'mean': 0.69192, 'half_width': 0.012935}, digits=1, percent=True) == '69.2 ± 1.3'
    assert format_mean_ci({'mean': None}) == '–' and format_mean_ci({'mean': float('nan')}) == '–'
    assert format_mean_ci({'mean': 0.5, 'half_width': None}) == '0.500'

def _systems(n=400, seed=3):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, n)
    a = np.where(rng.random(n) < 0.5, t, (t + 1) % 3)
    b = np.where(rng.random(n) < 0.9, t, (t + 1) % 3)
    return t, a, b

def test_paired_bootstrap_direction_reproducible_and_metrics():
    t, a, b = _systems()
    r = paired_bootstrap(t, a, b, n_boot=500, seed=7)
    assert r == paired_bootstrap(t, a, b, n_boot=500, seed=7)
    assert r['diff'] > 0.2 and r['ci_low'] > 0 and r['p_value'] < 0.01
    rev = paired_bootstrap(t, b, a, n_boot=500, seed=7)
    assert math.isclose(rev['diff'], -r['diff']) and rev['ci_high'] < 0
    f = paired_bootstrap(t, a, b, metric='f1_macro', n_boot=100)
    assert f['metric'] == 'f1_macro' and f['ci_low'] > 0
    c = paired_bootstrap(t, a, b, metric=lambda y, p: float(np.mean(y == p)), n_boot=100)
    assert math.isclose(c['diff'], r['diff'])
    with pytest.raises(ValueError, match='Unknown metric'): paired_bootstrap(t, a, b, metric='auc')

def test_paired_bootstrap_tiny_difference_is_not_significant():
    t, a, _ = _systems()
    b = a.copy(); i = int(np.flatnonzero(a != t)[0]); b[i] = t[i]   # b fixes one row
    r = paired_bootstrap(t, a, b, n_boot=1000)
    assert math.isclose(r['diff'], 1/len(t)) and r['p_value'] > 0.3 and r['ci_low'] <= 0

def test_mcnemar_exact_and_chi2():
    t = np.ones(50, int)
    a = np.r_[np.ones(10), np.zeros(30), np.ones(10)]   # a right on 20 rows
    b = np.r_[np.zeros(10), np.ones(30), np.ones(10)]   # b right on 40; only a: 10, only b: 30
    r = mcnemar(t, a, b)
    assert (r['b'], r['c'], r['method']) == (10, 30, 'chi2')
    assert math.isclose(r['statistic'], 19**2 / 40)
    assert math.isclose(r['p_value'], 0.002663, rel_tol=1e-3)   # chi-square sf(9.025, 1 df)
    ex = mcnemar(t, a, b, exact=True)
    assert ex['method'] == 'exact' and ex['p_value'] < 0.01
    assert mcnemar(t, a, a) == dict(b=0, c=0, statistic=0.0, p_value=1.0, method='exact')
    same = mcnemar([1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1])
    assert same['p_value'] == 1.0 and same['method'] == 'exact'

def test_figures_and_atomic_save(tmp_path):
    t, a, b = _systems(60)
    fig = plot_confusion(t, a, labels='p3', normalize='true')
    texts = [x.get_text() for x in fig.axes[0].texts]
    assert len(texts) == 9 and all('.' in x for x in texts)
    bars = plot_per_class_f1({'a': classification_metrics(t, a, 'p3'), 'b': (t, b)}, labels='p3')
    heights = [p.get_height() for p in bars.axes[0].patches]
    assert len(heights) == 6 and math.isclose(heights[3], classification_metrics(t, b, 'p3')['per_class']['neutral']['f1'])
    with pytest.raises(ValueError, match='no systems'): plot_per_class_f1({})
    path = save_figure(fig, tmp_path/'cm.png')
    good = path.read_bytes()
    def broken(*a, **k): raise RuntimeError('disk full')
    fig.savefig = broken
    with pytest.raises(RuntimeError): save_figure(fig, path)
    assert path.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ['cm.png']
