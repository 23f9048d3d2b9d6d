"EmoLLMs harness (mllmsent.emollms): the feature baseline route, its choices on validation, label spaces stated by the instructions, the LLM route, and the experiment notebook."
import os, json
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np, pandas as pd, pytest, torch
torch.set_num_threads(1)
from pathlib import Path
from mllmsent.core import Task, get_task, data_dir
from mllmsent.data import DataError, load_instructions, instruction_tasks
import mllmsent.emollms as emollms
from mllmsent.emollms import (FeatureBaseline, LLMAnswers, emollms_path, load_emollms_file, task_rows, within_file_split, file_split,
                              emollms_runs, llm_predictions, answer_templates, metrics_table)
from mllmsent.crossval import cross_validate, fold_scores
from mllmsent.models import tiny_tokenizer, tiny_causal_lm

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- the feature baseline, with features given by the test
def rows_of(task, labels, features):
    "Route rows whose text keys a feature vector (the encoder is replaced by a lookup)."
    task = get_task(task)
    df = pd.DataFrame({'id': [f'r{i}' for i in range(len(labels))], 'text': [f'row {i}' for i in range(len(labels))],
                       'label': pd.Series(list(labels), dtype=object).to_numpy(), 'task': task.name})
    df.attrs.update(task=task, tasks={task.name: task})
    return df, dict(zip(df.text, np.asarray(features, dtype=np.float32)))

@pytest.fixture
def lookup(monkeypatch):
    "Replace the sentence encoder by a text -> vector table filled by the test."
    table = {}
    monkeypatch.setattr(emollms, 'encode_texts', lambda texts, *a, **k: np.stack([table[t] for t in texts]))
    return table

def onehot(codes, n, rng, scale=3.0):
    return np.c_[np.eye(n)[codes] * scale + rng.normal(0, 0.3, (len(codes), n)), rng.normal(size=(len(codes), 2))]

def test_classes_through_cross_validate_choose_C_on_validation(lookup):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    rows, feats = rows_of('mvsa', y, onehot(y, 3, rng)); lookup.update(feats)
    split = within_file_split(rows, folds=5, seed=0)
    res = cross_validate(FeatureBaseline(rows.attrs['task']), rows, split, progress=False)
    assert res.per_fold.accuracy.min() > 0.85 and set(res.per_fold.C) <= set(emollms.LOGISTIC_CS)
    assert {'C', 'val_accuracy', 'monitor_accuracy'} <= set(res.curves.columns) and len(res.curves) == 5 * len(emollms.LOGISTIC_CS)
    assert fold_scores('mvsa', res.predictions.label, res.predictions.prediction)['accuracy'] > 0.9

def test_the_choice_reads_validation_never_the_monitored_test_rows(lookup):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 120)
    rows, feats = rows_of('p2plus', y, np.c_[y + rng.normal(0, 0.8, 120), rng.normal(size=(120, 3))]); lookup.update(feats)
    tr, va, te = rows.iloc[:80], rows.iloc[80:100], rows.iloc[100:]
    a = FeatureBaseline('p2plus').fit(tr, va, monitor=te)
    b = FeatureBaseline('p2plus').fit(tr, va, monitor=te.assign(label=1 - te.label.astype(int)))
    assert a.chosen == b.chosen and [c['val_accuracy'] for c in a.curve] == [c['val_accuracy'] for c in b.curve]
    with pytest.raises(ValueError, match=r"chooses C among \[0.01, 0.1, 1.0, 10.0\] on validation rows, and this split has none"):
        FeatureBaseline('p2plus').fit(tr, va.iloc[:0])
    assert FeatureBaseline('p2plus', Cs=(1.0,)).fit(tr, va.iloc[:0]).chosen == {'C': 1.0}   # one value: nothing to choose

def test_a_class_missing_from_training_and_a_rare_class(lookup):
    rng = np.random.default_rng(2)
    y = np.r_[rng.integers(0, 4, 60), [4, 4]]                                        # 'very positive' twice: rarer than the folds
    rows, feats = rows_of('sst5', y, onehot(y, 5, rng)); lookup.update(feats)
    res = cross_validate(FeatureBaseline('sst5'), rows, within_file_split(rows, folds=5), progress=False)
    assert len(res.predictions) == 62 and res.predictions.filter(like='prob_').shape[1] == 5
    route = FeatureBaseline('sst5').fit(rows.iloc[:60], rows.iloc[:10])             # never sees code 4
    assert route.predict_proba(rows.iloc[60:]).shape == (2, 5) and (route.predict_proba(rows)[:, 4] == 0).all()

def test_scores_are_clipped_to_the_stated_range(lookup):
    rng = np.random.default_rng(0)
    v = rng.uniform(1, 5, 80)
    task = Task('score:1..5', 'regression', value_range=(1.0, 5.0))
    rows, feats = rows_of(task, v, np.c_[v, rng.normal(0, 0.1, 80)]); lookup.update(feats)
    res = cross_validate(FeatureBaseline(task), rows, within_file_split(rows, folds=4), progress=False)
    assert fold_scores(task, res.predictions.label, res.predictions.prediction)['pearson'] > 0.95 and 'alpha' in res.per_fold
    far, fx = rows_of(task, [3.0, 3.0], [[100.0, 0], [-100.0, 0]]); far = far.assign(id=['f1', 'f2'], text=['far 1', 'far 2'])
    lookup.update({'far 1': fx['row 0'], 'far 2': fx['row 1']})
    assert FeatureBaseline(task).fit(rows.iloc[:60], rows.iloc[60:]).predict(far) == [5.0, 1.0]

def test_emotion_sets(lookup):
    labels = get_task('e_c').labels
    rng = np.random.default_rng(0)
    joy = rng.random(80) < 0.5
    X = np.c_[joy * 3.0 + rng.normal(0, 0.3, 80), rng.normal(size=(80, 2))]
    rows, feats = rows_of('e_c', [('joy', 'love') if j else ('sadness',) for j in joy], X); lookup.update(feats)
    res = cross_validate(FeatureBaseline('e_c'), rows, within_file_split(rows, folds=4), progress=False)
    pred = list(res.predictions.prediction)
    assert all(isinstance(p, tuple) and set(p) <= set(labels) for p in pred) and not any('anger' in p for p in pred)   # a constant label stays off
    assert fold_scores('e_c', res.predictions.label, pred)['jaccard'] > 0.9 and 'val_jaccard' in res.per_fold
    rows2, feats2 = rows_of('e_c', [('joy',) if j else () for j in joy], X); lookup.update(feats2)
    pred2 = FeatureBaseline('e_c').fit(rows2.iloc[:60], rows2.iloc[60:70]).predict(rows2.iloc[70:])
    assert () in pred2 and ('joy',) in pred2                                           # empty sets when gold has them
    noise, fn = rows_of('e_c', [('joy',), ('sadness',)] * 40, rng.normal(size=(80, 3))); lookup.update(fn)
    assert all(len(p) > 0 for p in FeatureBaseline('e_c').fit(noise.iloc[:60], noise.iloc[60:70]).predict(noise.iloc[70:]))

def test_splits_and_runs_bad_inputs(lookup):
    rows, _ = rows_of('mvsa', [0, 1, 2] * 3, np.zeros((9, 2)))
    with pytest.raises(ValueError, match="has 9 rows, too few for 5 folds with validation rows"): within_file_split(rows, folds=5)
    with pytest.raises(DataError, match="id 'a' is in parts"): file_split(['a'], ['a'], ['b'])

# ---------------------------------------------------------------- instruction files in every stated form
FORMS = {   # file -> (instruction template, {answer: words carrying it})
    'bare_codes.csv': ('Task: Classify the sentiment of the tweet. 1: positive. 0: neutral. -1: negative. Tweet: {t} Sentiment Class: ',
                       {'1': ['wonderful', 'lovely', 'great'], '0': ['ordinary', 'plain', 'usual'], '-1': ['awful', 'horrible', 'sad']}),
    'code_label.csv': ('Task: Classify the review. 0: negative, 1: neutral, 2: positive. Review: {t} Class: ',
                       {'2: positive': ['wonderful', 'lovely', 'great'], '1: neutral': ['ordinary', 'plain', 'usual'], '0: negative': ['awful', 'horrible', 'sad']}),
    'scores01.json': ('Task: Score the valence of the tweet between 0 (most negative) and 1 (most positive). Tweet: {t} Intensity Score: ',
                      {'0.9': ['wonderful', 'lovely'], '0.7': ['nice', 'pleasant'], '0.5': ['ordinary', 'plain'], '0.3': ['dull', 'gloomy'], '0.1': ['awful', 'horrible']}),
    'scores15.csv': ('Task: Rate the valence on a scale of 1 (most negative) to 5 (most positive). Text: {t} Intensity Score: ',
                     {'4.8': ['wonderful', 'lovely'], '3.9': ['nice', 'pleasant'], '2.8': ['ordinary', 'plain'], '2.1': ['dull', 'gloomy'], '1.2': ['awful', 'horrible']}),
    'ordinal7.json': ('Task: Grade the post. -3: awful, -2: bad, -1: poor, 0: fair, 1: decent, 2: good, 3: superb. Post: {t} Class: ',
                      {'3: superb': ['wonderful'], '2': ['lovely'], '1: decent': ['nice'], '0': ['ordinary'], '-1: poor': ['dull'], '-2': ['gloomy'], '-3: awful': ['horrible']}),
    'emotions.csv': ("Task: Name the emotions of the text, either 'neutral or no emotion' or some of (anger, fear, joy, sadness). Text: {t} Emotions: ",
                     {'anger': ['furious', 'enraged'], 'fear': ['scared', 'terrified'], 'joy, fear': ['thrilled yet scared'], 'sadness': ['grieving', 'heartbroken'],
                      'neutral or no emotion': ['ordinary', 'plain']}),
}
KIND = {'bare_codes.csv': ('ordinal3:-1..1', 'accuracy'), 'code_label.csv': ('ordinal3:0..2', 'accuracy'), 'scores01.json': ('v_reg', 'pearson'),
        'scores15.csv': ('score:1..5', 'pearson'), 'ordinal7.json': ('ordinal7:-3..3', 'accuracy'), 'emotions.csv': ('emotions4', 'jaccard')}

def write_forms(folder, n_nouns=8):
    nouns = ['day', 'film', 'trip', 'meal', 'walk', 'game', 'song', 'book', 'party', 'show'][:n_nouns]
    for name, (ins, answers) in FORMS.items():
        rows = [(ins.format(t=f'such a {w} {n} today'), a) for a, ws in answers.items() for w in ws for n in nouns]
        if name.endswith('.csv'): pd.DataFrame(rows, columns=['Instruction', 'Answer']).to_csv(folder/name, index=False)
        else: (folder/name).write_text('\n'.join(json.dumps({'instruction': i, 'input': '', 'output': a}) for i, a in rows) + '\n')
    return [folder/n for n in FORMS]

def test_every_stated_form_through_the_engine(tmp_path):
    "Must show (library): each written form runs through FeatureBaseline + cross_validate and is scored with its kind's metric."
    for path in write_forms(tmp_path):
        df = load_emollms_file(str(path))
        (run,) = emollms_runs({path.name: df}, folds=4)
        task, metric = KIND[path.name]
        assert run.task.name == task, path.name
        res = cross_validate(FeatureBaseline(run.task), run.rows, run.split, progress=False)
        m = fold_scores(run.task, res.predictions.label, res.predictions.prediction)
        assert metric in m and m[metric] > 0.5, (path.name, m)

def test_the_experiment_runs_on_written_files(tmp_path):
    "Must show (notebook): `-p files [...]` with files written here in every stated form; a table row per file with its kind's metric."
    from mllmsent.experiments import run_experiment
    files = write_forms(tmp_path, n_nouns=5)
    res = run_experiment(ROOT/'nbs'/'experiments'/'emollms.ipynb', {'files': [str(f) for f in files], 'aaid': False, 'max_rows': None, 'folds': 3},
                         tmp_path/'run', cwd=ROOT)
    pooled = pd.DataFrame(res['extra']['pooled']).set_index('file')
    for f in files:
        task, metric = KIND[f.name]
        assert pooled.loc[f.name, 'task'] == task and pooled.loc[f.name, metric] == pooled.loc[f.name, metric], (f.name, metric)
        other = {'accuracy', 'pearson', 'jaccard'} - {metric}
        assert all(pd.isna(pooled.loc[f.name].get(o)) for o in other)
    assert (tmp_path/'run'/'table.md').read_text().count('| BASELINE: MiniLM + ridge/logistic |') == len(files)
    assert set(pd.read_csv(tmp_path/'run'/'per_fold.csv').fold) == {1, 2, 3}

def test_files_that_state_nothing_or_do_not_exist(tmp_path):
    p = tmp_path/'vague.csv'
    pd.DataFrame({'Instruction': ['Task: How does the writer feel? Text: fine day Sentiment: '], 'Answer': ['good']}).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"vague.csv: data row 1 \(id 'vague-1'\): the instruction 'Task: How does the writer feel\?': it states no label set or score range"):
        load_emollms_file(str(p))
    with pytest.raises(FileNotFoundError, match=r"EmoLLMs file 'nope.csv': .* known names \['aaid_dev'"): emollms_path('nope.csv', tmp_path)

@pytest.mark.data
def test_shipped_files_give_the_committed_numbers():
    "Must show: the four shipped files and AAID, run as the experiment runs them, give papers/emollms/minilm_baseline's numbers."
    committed = pd.read_csv(ROOT/'papers'/'emollms'/'minilm_baseline'/'pooled.csv')
    spec = json.loads((ROOT/'papers'/'emollms'/'minilm_baseline'/'results.json').read_text())['params']
    tables = {emollms_path(n).name: load_emollms_file(n) for n in spec['files']}
    aaid = {p: load_emollms_file(f'aaid_{p}') for p in ('train', 'dev', 'test')}
    rows = []
    for r in emollms_runs(tables, aaid, folds=spec['folds'], val_fraction=spec['val_fraction'], seed=spec['seed']):
        res = cross_validate(FeatureBaseline(r.task, encoder=spec['encoder'], seed=spec['seed']), r.rows, r.split, progress=False)
        rows.append({'file': r.file, 'task': r.task.name, 'eval': r.eval, 'n': len(res.predictions), **fold_scores(r.task, res.predictions.label, res.predictions.prediction)})
    ours = pd.DataFrame(rows)
    assert ours[['file', 'task', 'eval', 'n']].values.tolist() == committed[['file', 'task', 'eval', 'n']].values.tolist()
    metrics = [c for c in committed.columns if c not in ('file', 'task', 'eval', 'n', 'model')]
    np.testing.assert_allclose(ours[metrics].to_numpy(float), committed[metrics].to_numpy(float), atol=1e-3, equal_nan=True)  # solver noise < table's 3 decimals

# ---------------------------------------------------------------- the LLM path
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
             ('ei_oc', ['low'] * 3, ['banana', 'high', 'moderate'], (['no', 'high', 'moderate'], 1)),
             ('v_oc', ['neutral or mixed'] * 3, ['-2', '3: very positive', 'meh'], (['moderately negative', 'very positive', 'very negative'], 1))]
    for task, golds, said, expected in cases:
        monkeypatch.setattr(emollms, 'generate_answers', lambda *a, said=said, **k: list(said))
        assert llm_predictions(model, tok, _rows(task, golds, said, 'joy'), method='generate') == expected, task

def test_llm_predictions_on_a_stated_task(monkeypatch, tiny, tmp_path):
    "A task made from the instruction: bare codes in the answers are read, scores are parsed in the stated range."
    model, tok = tiny
    path = write_forms(tmp_path, n_nouns=1)
    ord3 = task_rows(load_instructions(path[0]), 'ordinal3:-1..1').head(3)
    monkeypatch.setattr(emollms, 'generate_answers', lambda *a, **k: ['-1', '1: positive', 'banana'])
    assert llm_predictions(model, tok, ord3, method='generate') == (['negative', 'positive', 'negative'], 1)
    s15 = task_rows(load_instructions(path[3]), 'score:1..5').head(3)
    monkeypatch.setattr(emollms, 'generate_answers', lambda *a, **k: ['2.8', '9', '?'])
    assert llm_predictions(model, tok, s15) == ([2.8, 5.0, 3.0], 1)

def test_llm_predictions_with_a_tiny_model(tiny):
    "A real (random) model through `generate_answers`: the count is the number of answers the parser rejects."
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

def test_llm_route_through_cross_validate(tiny, tmp_path):
    "The LLM runs through the same engine and splits as the baseline: scored classes, generated scores."
    model, tok = tiny
    paths = write_forms(tmp_path, n_nouns=2)
    for path, task in ((paths[0], 'ordinal3:-1..1'), (paths[3], 'score:1..5')):
        (run,) = emollms_runs({path.name: load_instructions(path)}, folds=2)
        route = LLMAnswers(run.task, model, tok, label='tiny', max_new_tokens=3)
        res = cross_validate(route, run.rows, run.split, progress=False)
        assert len(res.predictions) == len(run.rows) and run.task.name == task
        assert ('accuracy' if task.startswith('ordinal') else 'pearson') in res.per_fold
        if task.startswith('score'): assert route.unparsed >= 0 and res.predictions.prediction.between(1, 5).all()

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

@pytest.mark.data
def test_aaid_runs_keep_the_files_apart():
    aaid = {p: load_emollms_file(f'aaid_{p}') for p in ('train', 'dev', 'test')}
    runs = [r for r in emollms_runs({}, aaid) if r.file == 'test.json']
    for r in runs:
        parts = r.split.groupby('part').id.apply(lambda s: {i.split(':')[0] for i in s}).to_dict()
        assert parts == {'train': {'train'}, 'val': {'dev'}, 'test': {'test'}}
