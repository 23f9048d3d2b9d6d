"EmoLLMs predictions (mllmsent.emollms): the cross-validated baseline per task kind and LLM predictions, on synthetic rows."
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np, pandas as pd, pytest, torch
torch.set_num_threads(1)
from mllmsent.core import get_task
import mllmsent.emollms as emollms
from mllmsent.emollms import cv_baseline_predictions, fit_baseline_predictions, llm_predictions, answer_templates, metrics_table
from mllmsent.models import tiny_tokenizer, tiny_causal_lm


def _signal(labels, n, seed=0):
    "Gold labels drawn from `labels` and features whose first columns one-hot encode them (plus noise)."
    rng = np.random.default_rng(seed)
    y = rng.choice(list(labels), n)
    onehot = (np.array(y)[:, None] == np.array(list(labels))[None]).astype(float) * 3
    return np.c_[onehot + rng.normal(0, 0.3, onehot.shape), rng.normal(size=(n, 2))], list(y)


def test_classification_learns_and_answers_label_names():
    X, y = _signal(get_task('mvsa').labels, 90)
    pred = cv_baseline_predictions(X, y, 'mvsa', folds=5)
    assert set(pred) <= set(get_task('mvsa').labels)
    assert np.mean(np.array(pred) == np.array(y)) > 0.9
    assert cv_baseline_predictions(X, y, 'mvsa', folds=5) == pred                       # same seed, same folds


def test_ordinal_with_a_class_rarer_than_the_folds():
    "A class with fewer rows than folds cannot be stratified: plain K-fold is used instead of failing."
    labels = get_task('sst5').labels
    X, y = _signal(labels[:4], 60)
    X, y = np.r_[X, X[:2]], y + ['very positive'] * 2                                     # 2 rows < 5 folds
    pred = cv_baseline_predictions(X, y, 'sst5', folds=5)
    assert len(pred) == 62 and set(pred) <= set(labels)


def test_regression_is_clipped_to_the_task_range():
    rng = np.random.default_rng(0)
    v = rng.uniform(-2, 2, 80)
    X = np.c_[v, rng.normal(0, 0.1, 80)]
    pred = cv_baseline_predictions(X, v, 'vader', folds=4)
    assert np.corrcoef(pred, v)[0, 1] > 0.95
    far = fit_baseline_predictions(X, v, np.array([[100.0, 0], [-100.0, 0]]), 'vader')  # the line extrapolates past +-4
    assert far == [4.0, -4.0]


def test_multilabel_sets_never_seen_label_and_empty_sets():
    labels = get_task('e_c').labels
    rng = np.random.default_rng(0)
    joy = rng.random(80) < 0.5
    X = np.c_[joy * 3.0 + rng.normal(0, 0.3, 80), rng.normal(size=(80, 2))]
    gold = [('joy', 'love') if j else ('sadness',) for j in joy]                          # 'anger' etc. never occur
    pred = cv_baseline_predictions(X, gold, 'e_c', folds=4)
    assert all(isinstance(p, tuple) and set(p) <= set(labels) for p in pred)
    assert not any('anger' in p for p in pred)                                          # a constant label stays off
    assert np.mean([p == g for p, g in zip(pred, gold)]) > 0.9
    noise = rng.normal(size=(80, 3))
    assert all(len(p) > 0 for p in cv_baseline_predictions(noise, gold, 'e_c', folds=4))  # no empty gold: never empty
    gold_empty = [('joy',) if j else () for j in joy]
    pred_empty = cv_baseline_predictions(X, gold_empty, 'e_c', folds=4)
    assert () in pred_empty and ('joy',) in pred_empty                                   # empty sets are allowed when gold has them


def test_baseline_bad_inputs():
    X, y = _signal(('negative', 'positive'), 10)
    with pytest.raises(ValueError, match="10 feature rows but 9 gold values"): cv_baseline_predictions(X, y[:9], 'mvsa')
    with pytest.raises(ValueError, match="cannot be split into 5 folds"): cv_baseline_predictions(X[:4], y[:4], 'mvsa', folds=5)


def _rows(task, golds, answers, emotion=None):
    "Instruction rows of one task in `load_instructions`' form."
    return pd.DataFrame(dict(id=[f'{task}-{i}' for i in range(len(golds))], text=[f'text {i}' for i in range(len(golds))],
                             instruction=[f'Task: rate. Text: text number {i} is fine. Answer: ' for i in range(len(golds))],
                             answer=answers, task=task, kind=get_task(task).kind, gold=golds, emotion=emotion))


@pytest.fixture(scope='module')
def tiny():
    corpus = ["Task: rate. Text: text number 1 is fine. Answer: 2: moderate amount of joy can be inferred",
              "0: no joy can be inferred 1: low amount 3: high amount 0.5 0.25 positive negative"] * 20
    tok = tiny_tokenizer(corpus, vocab_size=400)
    return tiny_causal_lm('llama', tokenizer=tok, seed=0), tok


def test_llm_predictions_counts_unparsed_answers(monkeypatch, tiny):
    "Unreadable answers get the task's fallback (middle of the scale, empty set, first label) and are counted."
    model, tok = tiny
    cases = [('ei_reg', [0.1, 0.2, 0.3], ['0.25', 'no idea', '7'], ([0.25, 0.5, 1], 1)),
             ('e_c', [('joy',)] * 3, ['joy, love', 'nothing', ''], ([('joy', 'love'), (), ()], 2)),
             ('ei_oc', ['low'] * 3, ['banana', 'high', 'moderate'], (['no', 'high', 'moderate'], 1))]
    for task, golds, said, expected in cases:
        monkeypatch.setattr(emollms, 'generate_answers', lambda *a, said=said, **k: list(said))
        assert llm_predictions(model, tok, _rows(task, golds, said, 'joy'), method='generate') == expected, task


def test_llm_predictions_with_a_tiny_model(tiny):
    "A real (random) model through `generate_answers`: the count is the number of answers the parser rejects (here all of them)."
    from mllmsent.scoring import generate_answers
    from mllmsent.prompts import parse_number, render_prompt
    model, tok = tiny
    df = _rows('v_reg', [0.2, 0.4, 0.6, 0.8], ['0.2', '0.4', '0.6', '0.8'])
    pred, bad = llm_predictions(model, tok, df, max_new_tokens=4, batch_size=2)
    answers = generate_answers(model, tok, [render_prompt(tok, i) for i in df.instruction], max_new_tokens=4, batch_size=2)
    ok = [parse_number(a, 0, 1).ok for a in answers]
    assert bad == ok.count(False) > 0
    assert all(p == 0.5 for p, o in zip(pred, ok) if not o) and all(0 <= p <= 1 for p in pred)


def test_llm_scoring_uses_only_labels_with_templates(tiny):
    model, tok = tiny
    golds = ['no', 'low', 'moderate', 'low']
    df = _rows('ei_oc', golds, [f'{i}: {g} amount of joy can be inferred' for i, g in enumerate(golds)], 'joy')
    pred, bad = llm_predictions(model, tok, df)                                         # 'auto' scores an ordinal task
    assert bad == 0 and len(pred) == 4 and set(pred) <= {'no', 'low', 'moderate'}       # 'high' has no answer text
    assert answer_templates(df)['low'] == '1: low amount of {E} can be inferred'


def test_llm_predictions_bad_inputs(tiny):
    model, tok = tiny
    two = pd.concat([_rows('ei_reg', [0.1], ['0.1']), _rows('v_reg', [0.2], ['0.2'])])
    with pytest.raises(ValueError, match="rows of one task"): llm_predictions(model, tok, two)
    with pytest.raises(ValueError, match="needs a label set"): llm_predictions(model, tok, _rows('ei_reg', [0.1], ['0.1']), method='score')
    with pytest.raises(ValueError, match="method must be"): llm_predictions(model, tok, _rows('ei_reg', [0.1], ['0.1']), method='guess')


def test_metrics_table_blank_cells_and_columns():
    t = metrics_table([{'file': 'a.csv', 'task': 'sst5', 'model': 'm', 'n': 2, 'accuracy': 0.5, 'unparsed': 1},
                       {'file': 'b.csv', 'task': 'vader', 'model': 'm', 'n': 2, 'pearson': float('nan')}])
    head, _, r1, r2 = t.splitlines()
    assert head == '| file | task | model | n | pearson | accuracy | unparsed |'
    assert r1 == '| a.csv | sst5 | m | 2 |  | 0.500 | 1 |' and r2 == '| b.csv | vader | m | 2 |  |  |  |'
