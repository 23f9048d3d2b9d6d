"Fine-tuning tiny BERT/DistilBERT/ModernBERT/BART models, checkpoints, and no test rows in early stopping."
import os, json, logging
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, pandas as pd, pytest, torch
from mllmsent import finetune as ft
from mllmsent import checkpoints as ckpts
from mllmsent.finetune import finetune, predict_texts, WeightedTrainer, balanced_weights, FineTune
from mllmsent.checkpoints import save_checkpoint, load_checkpoint
from mllmsent.encoders import tiny_encoder, encode_texts, TINY_FAMILIES
from mllmsent.heads import fit_head
from mllmsent.crossval import cross_validate
from mllmsent.data import demo_captions
from mllmsent.splits import fixed_folds
from mllmsent.core import get_task

torch.set_num_threads(1)
logging.getLogger('transformers').setLevel(logging.ERROR)
P3 = get_task('p3').labels

@pytest.fixture(scope='module')
def data():
    return demo_captions('p3', n=30)

@pytest.fixture(scope='module')
def tiny(tmp_path_factory, data):
    root = tmp_path_factory.mktemp('tiny')
    return {f: tiny_encoder(f, root/f, labels=P3, corpus=data.text) for f in TINY_FAMILIES}

@pytest.mark.parametrize('family', TINY_FAMILIES)
def test_each_architecture_trains_saves_loads_predicts(family, tiny, data, tmp_path):
    X = encode_texts(data.text[:3], str(tiny[family]), cache_dir=False, progress=False)
    assert X.shape == (3, 32) and np.isfinite(X).all()
    before = {k: v.clone() for k, v in ft.load_classifier(str(tiny[family]), 'p3', 'cpu')[0].state_dict().items()}
    m, tok, s = finetune(data[:20], data[20:25], 'p3', str(tiny[family]), max_steps=2, eval_steps=1, batch_size=8, max_len=32, lr=1e-3)
    assert s['global_step'] == 2 and len(s['eval_history']) == 2
    after = m.state_dict()
    changed = [k for k in before if k in after and not torch.equal(before[k], after[k].cpu())]
    assert any('classifier' in k or 'classification_head' in k for k in changed) and len(changed) > 4   # the whole model moves, not only the head
    p = predict_texts(m, tok, data.text[25:], max_len=32)
    ck = load_checkpoint(save_checkpoint(tmp_path/'ck', 'p3', str(tiny[family]), model=m, tokenizer=tok, max_len=32, training=s))
    np.testing.assert_allclose(ck.predict_proba(data.text[25:]), p, atol=1e-5)
    meta = json.loads((tmp_path/'ck'/'mllmsent.json').read_text())
    assert meta['mode'] == 'finetune' and meta['labels'] == list(P3) and meta['max_len'] == 32
    assert (tmp_path/'ck'/'model.safetensors').exists()

def test_class_weights_change_the_loss(tiny, data):
    m, tok = ft.load_classifier(str(tiny['bert']), 'p3', 'cpu')
    b = tok(list(data.text[:6]), padding=True, return_tensors='pt'); b['labels'] = torch.tensor(data.label[:6].to_numpy())
    b = {k: v for k, v in b.items() if k != 'token_type_ids'}
    plain = m(**b).loss
    from transformers import TrainingArguments
    args = TrainingArguments(output_dir='/tmp/mllmsent-unused', report_to='none', use_cpu=True)
    same = WeightedTrainer(model=m, args=args, class_weights=[1.0, 1.0, 1.0]).compute_loss(m, dict(b))
    skew = WeightedTrainer(model=m, args=args, class_weights=[10.0, 1.0, 0.1]).compute_loss(m, dict(b))
    assert torch.allclose(plain, same, atol=1e-6) and not torch.allclose(plain, skew, atol=1e-3)
    np.testing.assert_allclose(balanced_weights([0, 0, 1, 1, 1, 1], 3), [1.0, 0.5, 1.0])  # absent class: 1

def test_early_stopping_uses_validation(tiny, data):
    # lr=0: validation accuracy can never improve, so patience=1 stops after the second evaluation
    _, _, s = finetune(data[:20], data[20:25], 'p3', str(tiny['distil-bert']), max_steps=20, eval_steps=1, batch_size=4,
                       max_len=32, lr=0.0, patience=1)
    assert s['global_step'] == 2 and s['best_step'] == 1

def test_frozen_head_checkpoints(tmp_path, data):
    X = encode_texts(data.text, cache_dir=False, progress=False)
    for kind in ('logreg', 'mlp'):
        h = fit_head(X[:20], data.label[:20], X[20:25], data.label[20:25], kind=kind, hidden=8, epochs=5)
        ck = load_checkpoint(save_checkpoint(tmp_path/kind, 'p3', 'minilm', head=h, pooling='mean'))
        np.testing.assert_allclose(ck.predict_proba(data.text[25:]), h.predict_proba(X[25:]), atol=1e-4)
        assert ck.meta['mode'] == 'frozen' and ck.meta['head'] == kind and (tmp_path/kind/'head.safetensors').exists()

def test_checkpoint_errors_and_atomic_replace(tmp_path, data, monkeypatch):
    X = encode_texts(data.text[:12], cache_dir=False, progress=False)
    h = fit_head(X[:8], data.label[:8], X[8:12], data.label[8:12])
    with pytest.raises(ValueError, match='exactly one of'): save_checkpoint(tmp_path/'x', 'p3', 'minilm')
    with pytest.raises(FileNotFoundError, match='not an mllmsent checkpoint'): load_checkpoint(tmp_path)
    save_checkpoint(tmp_path/'ck', 'p3', 'minilm', head=h, pooling='mean')
    def boom(*a, **k): raise RuntimeError('disk full')
    monkeypatch.setattr(ckpts, 'write_json', boom)
    with pytest.raises(RuntimeError, match='disk full'): save_checkpoint(tmp_path/'ck', 'p5', 'minilm', head=h, pooling='mean')
    assert json.loads((tmp_path/'ck'/'mllmsent.json').read_text())['task'] == 'p3'   # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ck']                         # and no half-written folder is left

def test_finetune_never_sees_test_rows(tiny, data, monkeypatch):
    split = fixed_folds(data, val_fraction=0.2)
    seen = []
    real = ft.finetune
    def spy(train, val, *a, **kw):
        seen.append((set(train.id), set(val.id))); return real(train, val, *a, **kw)
    monkeypatch.setattr(ft, 'finetune', spy)
    kw = dict(max_steps=2, eval_steps=1, batch_size=8, max_len=32, lr=1e-3)
    pf, pr = cross_validate(FineTune('p3', str(tiny['bert']), **kw), data, split, progress=False)[:2]
    for k, (tr, va) in enumerate(seen, 1):
        s = split[split.split == k]
        assert tr == set(s[s.part == 'train'].id) and va == set(s[s.part == 'val'].id)
        assert not (tr | va) & set(s[s.part == 'test'].id)
    # poison fold 1's test labels: the fine-tuned model, its best step and its predictions do not change
    one = split[split.split == 1]
    bad = data.copy(); m = bad.id.isin(one[one.part == 'test'].id); bad.loc[m, 'label'] = (bad.loc[m, 'label'] + 1) % 3
    pf_a, pr_a = cross_validate(FineTune('p3', str(tiny['bert']), **kw), data, one, progress=False)[:2]
    pf_b, pr_b = cross_validate(FineTune('p3', str(tiny['bert']), **kw), bad, one, progress=False)[:2]
    probs = [c for c in pr_a.columns if c.startswith('prob_')]
    np.testing.assert_allclose(pr_a[probs].to_numpy(), pr_b[probs].to_numpy(), atol=1e-6)
    assert pf_a.best_step.tolist() == pf_b.best_step.tolist() and pf_a.val_accuracy.tolist() == pf_b.val_accuracy.tolist()

def test_finetune_folds_resume_after_a_crash(tiny, data, tmp_path, monkeypatch):
    split = fixed_folds(data, val_fraction=0.2)
    n_folds = split.split.nunique()
    kw = dict(max_steps=2, eval_steps=1, batch_size=8, max_len=32, lr=1e-3)
    pf0, pr0 = cross_validate(FineTune('p3', str(tiny['bert']), **kw), data, split, progress=False)[:2]   # uninterrupted, nothing kept
    real, calls = ft.finetune, []
    def crash_in_fold_3(train, val, *a, **k):
        calls.append(1)
        if len(calls) == 3: raise KeyboardInterrupt   # the run stops while fold 3 trains
        return real(train, val, *a, **k)
    monkeypatch.setattr(ft, 'finetune', crash_in_fold_3)
    rdir = tmp_path/'folds'
    with pytest.raises(KeyboardInterrupt): cross_validate(FineTune('p3', str(tiny['bert']), **kw), data, split, resume_dir=rdir, progress=False)[:2]
    assert sorted(p.name for p in rdir.iterdir()) == ['fold1.csv', 'fold1.json', 'fold1_curve.csv', 'fold2.csv', 'fold2.json',
                                                       'fold2_curve.csv']   # nothing half-written
    trained = []
    def spy(train, val, *a, **k): trained.append(set(train.id)); return real(train, val, *a, **k)
    monkeypatch.setattr(ft, 'finetune', spy)
    pf, pr = cross_validate(FineTune('p3', str(tiny['bert']), **kw), data, split, resume_dir=rdir, progress=False)[:2]
    assert len(trained) == n_folds - 2                                  # folds 1 and 2 were not trained again
    assert trained[0] == set(split[(split.split == 3) & (split.part == 'train')].id)
    pd.testing.assert_frame_equal(pf.drop(columns='seconds'), pf0.drop(columns='seconds'), check_dtype=False)
    pd.testing.assert_frame_equal(pr, pr0, check_dtype=False, atol=1e-6)
    assert sorted(pr.id) == sorted(data.id.astype(str))                 # every row once
    # changed data or settings are refused, not silently reused
    bad = data.copy(); bad.loc[0, 'label'] = (bad.loc[0, 'label'] + 1) % 3
    with pytest.raises(ValueError, match=r'fold\d.json was written by another route, settings or data'):
        cross_validate(FineTune('p3', str(tiny['bert']), **kw), bad, split, resume_dir=rdir, progress=False)[:2]
    with pytest.raises(ValueError, match='fold1.json was written by another route'):
        cross_validate(FineTune('p3', str(tiny['bert']), **{**kw, 'lr': 1e-4}), data, split, resume_dir=rdir, progress=False)
