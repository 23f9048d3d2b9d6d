"Frozen encoder features, the disk cache, heads, and the proof that test rows never reach model choice."
import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, pandas as pd, pytest, torch
from mllmsent import heads, encoders
from mllmsent.encoders import encode_texts
from mllmsent.heads import fit_head, FrozenHead
from mllmsent.models import resolve_model, MODELS
from mllmsent.crossval import cross_validate
from mllmsent.data import demo_captions
from mllmsent.splits import fixed_folds

torch.set_num_threads(1)
TEXTS = ['a happy dog on a sunny beach', 'a burnt car', 'a grey office with many desks and chairs', 'a party']

def test_models_by_name():
    assert set(MODELS) >= {'minilm', 'bart', 'modern-bert', 'modern-bert-large', 'distil-bert'}
    assert resolve_model('distil-bert') == 'distilbert-base-uncased'
    assert os.path.isdir(resolve_model('minilm'))

def test_order_restored_and_batch_independent():
    a = encode_texts(TEXTS, cache_dir=False, progress=False, batch_size=2)
    b = encode_texts(TEXTS[::-1], cache_dir=False, progress=False, batch_size=3)
    np.testing.assert_allclose(a, b[::-1], atol=1e-4)          # length sorting never mixes rows up
    one = np.stack([encode_texts([t], cache_dir=False, progress=False)[0] for t in TEXTS])
    np.testing.assert_allclose(a, one, atol=1e-4)              # padding in a batch does not change a row

def test_pooling_choices():
    m = encode_texts(TEXTS[:2], pooling='mean', cache_dir=False, progress=False)
    c = encode_texts(TEXTS[:2], pooling='cls', cache_dir=False, progress=False)
    assert not np.allclose(m, c)
    with pytest.raises(ValueError, match="pooling must be"): encode_texts(TEXTS, pooling='max', cache_dir=False)
    with pytest.raises(ValueError, match="no texts"): encode_texts([], cache_dir=False)

def test_cache_is_used_and_rows_shared(tmp_path, monkeypatch):
    calls = []
    real = encoders._encode
    monkeypatch.setattr(encoders, '_encode', lambda texts, *a: calls.append(list(texts)) or real(texts, *a))
    x = encode_texts(TEXTS, cache_dir=tmp_path, progress=False)
    assert calls == [TEXTS]
    np.testing.assert_array_equal(encode_texts(TEXTS, cache_dir=tmp_path), x)            # same set: read from disk
    y = encode_texts(TEXTS[1:3] + ['a new caption'], cache_dir=tmp_path, progress=False)  # a new set: only the new text is encoded
    assert calls[1:] == [['a new caption']]
    np.testing.assert_array_equal(y[:2], x[1:3])
    assert encode_texts(TEXTS, max_len=16, cache_dir=tmp_path, progress=False).shape == x.shape  # another max_len: another key
    assert len(calls) == 3
    assert not [p for p in tmp_path.rglob('*') if p.name.endswith('.tmp')]                # atomic writes leave no temp files

def test_fit_head_errors_and_kinds():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)), np.arange(40) % 2
    with pytest.raises(ValueError, match='single class'): fit_head(X, np.zeros(40), X, y)
    with pytest.raises(ValueError, match='differ in length'): fit_head(X, y[:-1], X, y)
    with pytest.raises(ValueError, match="unknown head kind"): fit_head(X, y, X, y, kind='svm')
    h = fit_head(X, y, X[:10], y[:10], n_classes=3)
    assert h.predict_proba(X).shape == (40, 3) and np.allclose(h.predict_proba(X)[:, 2], 0)

def test_mlp_stops_early_on_validation():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)).astype(np.float32), np.arange(60) % 3   # labels are noise: validation cannot improve for long
    h = fit_head(X, y, X[:15], rng.permutation(y[:15]), kind='mlp', hidden=8, epochs=200, patience=3)
    assert h.info['epochs_run'] < 200 and h.info['epochs_run'] == h.info['best_epoch'] + 3

def _poisoned(df, split, k):
    "Labels of fold k's test rows replaced by a wrong class."
    test = set(split[(split.split == k) & (split.part == 'test')].id)
    bad = df.copy()
    m = bad.id.isin(test)
    bad.loc[m, 'label'] = (bad.loc[m, 'label'] + 1) % 3
    return bad

@pytest.mark.parametrize('kind', ['logreg', 'mlp'])
def test_test_rows_never_reach_model_choice(tmp_path, kind):
    "Flipping the labels of a fold's test rows changes nothing in that fold: neither the chosen head nor its predictions."
    df = demo_captions('p3', n=90)
    split = fixed_folds(df, val_fraction=0.2)
    for k in (1, 2):
        one = split[split.split == k]
        kw = dict(cache_dir=tmp_path, head=kind)
        if kind == 'mlp': kw.update(hidden=16, epochs=30, patience=5)
        pf_a, pr_a, cv_a = cross_validate(FrozenHead('p3', **kw), df, one, progress=False)
        pf_b, pr_b, cv_b = cross_validate(FrozenHead('p3', **kw), _poisoned(df, one, k), one, progress=False)
        probs = [c for c in pr_a.columns if c.startswith('prob_')]
        np.testing.assert_allclose(pr_a[probs].to_numpy(), pr_b[probs].to_numpy(), atol=1e-6)
        chosen = 'C' if kind == 'logreg' else 'best_epoch'
        assert pf_a[chosen].tolist() == pf_b[chosen].tolist()
        assert pf_a.val_accuracy.tolist() == pf_b.val_accuracy.tolist()
        assert (pr_a.label != pr_b.label).all()           # the poison did reach the reported labels
        assert not np.allclose(cv_a.monitor_accuracy, cv_b.monitor_accuracy)   # ... and the monitored curve, which chose nothing

def test_rows_reaching_fit_head_are_train_and_val_only(tmp_path, monkeypatch):
    df = demo_captions('p3', n=60)
    split = fixed_folds(df, val_fraction=0.2)
    X = encode_texts(df.text, cache_dir=tmp_path, progress=False)
    row_of = {X[i].tobytes(): df.id[i] for i in range(len(df))}
    seen = []
    real = heads.fit_head
    def spy(Xtr, ytr, Xva, yva, *a, **kw):
        seen.append(({row_of[r.tobytes()] for r in Xtr}, {row_of[r.tobytes()] for r in Xva}))
        return real(Xtr, ytr, Xva, yva, *a, **kw)
    monkeypatch.setattr(heads, 'fit_head', spy)
    cross_validate(FrozenHead('p3', cache_dir=tmp_path), df, split, progress=False)
    assert len(seen) == 5
    for k, (tr, va) in enumerate(seen, 1):
        s = split[split.split == k]
        assert tr == set(s[s.part == 'train'].id) and va == set(s[s.part == 'val'].id)
        assert not (tr | va) & set(df.id[df.fold == k])   # nothing of the test fold
