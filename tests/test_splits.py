"Split procedures: no leakage for any procedure, determinism and checksums, small classes, split files."
import warnings
import numpy as np, pandas as pd, pytest
from mllmsent.core import data_dir
from mllmsent.data import DataError, demo_captions, load_caption_set
from mllmsent.splits import (nested_folds, fixed_folds, random_split, repeated_splits, split_from_file, save_split,
                             load_split, iter_splits, check_split)

DEMO = demo_captions('p5', n=150, seed=1)

def given_split(tmp_path, df=DEMO):
    "A user split file with two splits, `val` spelled 'dev'."
    rng = np.random.default_rng(0)
    rows = []
    for s in (1, 2):
        parts = rng.choice(['train', 'dev', 'test'], len(df), p=[0.7, 0.15, 0.15])
        rows.append(pd.DataFrame({'id': df.id, 'part': parts, 'split': s}))
    p = tmp_path/'given.csv'; pd.concat(rows).to_csv(p, index=False)
    return split_from_file(p, df)

PROCEDURES = {
    'nested_folds': lambda tmp: nested_folds(DEMO, k=5, seed=3),
    'fixed_folds': lambda tmp: fixed_folds(DEMO, seed=3),
    'random_split': lambda tmp: random_split(DEMO, seed=3),
    'repeated_splits': lambda tmp: repeated_splits(DEMO, n=10, seed=3),
    'split_from_file': given_split,
}

@pytest.mark.parametrize('name', PROCEDURES)
def test_no_leakage(tmp_path, name):
    split = PROCEDURES[name](tmp_path)
    n = 0
    for k, train, val, test in iter_splits(split):
        train, val, test = set(train), set(val), set(test)
        assert not val & test, f'{name} split {k}: validation rows in test'
        assert not train & test, f'{name} split {k}: test rows in train'
        assert not train & val, f'{name} split {k}: validation rows in train'
        assert train and test and (train | val | test) <= set(DEMO.id)
        n += 1
    assert n == split.split.nunique() and list(split.columns) == ['id', 'split', 'part']

@pytest.mark.parametrize('name', ['nested_folds', 'fixed_folds'])
def test_folds_cover_every_row_once(tmp_path, name):
    split = PROCEDURES[name](tmp_path)
    test = split[split.part == 'test']
    assert sorted(test.id) == sorted(DEMO.id)
    for k, train, val, test in iter_splits(split): assert set(train) | set(val) | set(test) == set(DEMO.id)

def test_fixed_folds_keep_the_file_folds():
    split = fixed_folds(DEMO)
    for k, train, val, test in iter_splits(split):
        assert set(test) == set(DEMO.id[DEMO.fold == k])
        assert set(DEMO.fold[DEMO.id.isin(val)]) <= {1, 2, 3, 4, 5} - {k}

def test_stratification_and_sizes():
    split = nested_folds(DEMO, k=5, val_fraction=0.2)
    lab = DEMO.set_index('id').label
    for k, train, val, test in iter_splits(split):
        assert len(test) == 30 and len(val) == 24 and len(train) == 96
        assert lab[test].value_counts().tolist() == [6] * 5          # 150 rows, 30 per class: 6 per class per fold
        assert lab[val].value_counts().max() - lab[val].value_counts().min() <= 1
    r = random_split(DEMO, ratios=(0.6, 0.2, 0.2))
    assert r.part.value_counts().to_dict() == {'train': 90, 'val': 30, 'test': 30}
    assert lab[r.id[r.part == 'test']].value_counts().tolist() == [6] * 5

@pytest.mark.parametrize('make', [
    lambda df, s: nested_folds(df, seed=s), lambda df, s: fixed_folds(df, seed=s),
    lambda df, s: random_split(df, seed=s), lambda df, s: repeated_splits(df, n=3, seed=s)])
def test_same_seed_same_file_and_checksum(tmp_path, make):
    h = [save_split(make(DEMO, s), tmp_path/f'{i}.csv') for i, s in enumerate([5, 5, 6])]
    assert h[0] == h[1] and (tmp_path/'0.csv').read_bytes() == (tmp_path/'1.csv').read_bytes()
    assert h[2] != h[0]
    assert (tmp_path/'0.csv.sha256').read_text().split() == [h[0], '0.csv']
    back = load_split(tmp_path/'0.csv')
    assert back.equals(make(DEMO, 5)) and back.attrs['sha256'] == h[0]

def test_split_file_is_sorted_and_verified(tmp_path):
    p = tmp_path/'s.csv'
    h = save_split(random_split(DEMO).sample(frac=1, random_state=0), p)
    df = pd.read_csv(p, dtype=str)
    assert df.equals(df.sort_values(['split', 'part', 'id'], key=lambda c: c.astype(int) if c.name == 'split' else c).reset_index(drop=True))
    assert load_split(p, sha256=h).equals(random_split(DEMO))
    with pytest.raises(DataError, match='the split file was changed'): load_split(p, sha256='0' * 64)
    p.write_text(p.read_text().replace('train', 'val', 1))
    with pytest.raises(DataError, match='the split file was changed'): load_split(p)
    (tmp_path/'s.csv.sha256').unlink()
    assert (load_split(p).part == 'val').sum() == 16   # without the .sha256 file the edited table loads

def test_hand_written_split_file(tmp_path):
    p = tmp_path/'h.csv'
    p.write_text('id,split,part\na,1,train\nb,1,test\nc,2,train\nd,2,test\na,2,val\n')
    assert load_split(p).groupby('split').size().tolist() == [2, 3]
    p.write_text('id,split,part\na,one,train\nb,1,test\n')
    with pytest.raises(DataError, match="data row 1: split 'one'"): load_split(p)
    p.write_text('id,part\na,train\n')
    with pytest.raises(DataError, match=r"missing column\(s\) \['split'\]"): load_split(p)

def test_check_split_errors():
    good = random_split(DEMO)
    assert check_split(good).loc[1].tolist() == [120, 15, 15]
    with pytest.raises(DataError, match=r"missing column\(s\) \['part'\]"): check_split(good.drop(columns='part'))
    with pytest.raises(DataError, match="part 'holdout' is not one of"): check_split(good.replace({'part': {'val': 'holdout'}}))
    leak = pd.concat([good, good[good.part == 'test'].head(1).assign(part='val')])
    with pytest.raises(DataError, match=r"is in parts \['test', 'val'\] of split 1"): check_split(leak)
    with pytest.raises(DataError, match=r"split\(s\) \[1\] have no 'test' rows"): check_split(good[good.part != 'test'])

# ---------------------------------------------------------------- small classes and bad arguments
def tiny_class(n_small):
    df = demo_captions('p3', n=60, seed=0)
    keep = df.index[df.label != 2].tolist() + df.index[df.label == 2].tolist()[:n_small]
    return df.loc[keep].reset_index(drop=True)

def test_small_class_kfold_falls_back_with_warning():
    df = tiny_class(3)                       # 3 rows of class 2, 5 folds
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always'); split = nested_folds(df, k=5)
    assert any("5-fold split: class '2' has only 3 row(s), fewer than the 5 needed" in str(x.message) for x in w)
    assert sorted(split.id[split.part == 'test']) == sorted(df.id)

def test_single_row_class_in_random_and_inner_splits():
    df = tiny_class(1)
    with pytest.warns(UserWarning, match='without stratification'): r = random_split(df)
    check_split(r)
    with pytest.warns(UserWarning, match='without stratification'): f = fixed_folds(df)
    check_split(f)

@pytest.mark.data
def test_real_p5_alpha5_smallest_class_needs_no_fallback():
    df = load_caption_set('minigpt4', 'p5', 5)
    assert df.label_name.value_counts().min() == 18
    with warnings.catch_warnings():
        warnings.simplefilter('error')      # 18 rows split over 5 folds and a 10% validation share: stratified, no warning
        for s in (nested_folds(df), fixed_folds(df), repeated_splits(df, n=3)): check_split(s)

def test_bad_arguments():
    with pytest.raises(DataError, match="id 'demo-0000' appears more than once"): nested_folds(pd.concat([DEMO, DEMO.head(1)]))
    with pytest.raises(KeyError, match="no column 'stars'"): random_split(DEMO, label_col='stars')
    with pytest.raises(ValueError, match='summing to 1'): random_split(DEMO, ratios=(0.8, 0.1, 0.2))
    with pytest.raises(ValueError, match='train and test > 0'): random_split(DEMO, ratios=(1.0, 0.0, 0.0))
    with pytest.raises(DataError, match="fold 'x' is not an integer"): fixed_folds(DEMO.assign(fold=DEMO.fold.astype(str).where(DEMO.index != 4, 'x')))
    with pytest.raises(DataError, match=r'folds \[2\] have no rows'): fixed_folds(DEMO[DEMO.fold != 2])
    with pytest.raises(KeyError, match="no fold column 'fold'"): fixed_folds(DEMO.drop(columns='fold'))

def test_no_validation_and_unstratified():
    r = random_split(DEMO, ratios=(0.9, 0.0, 0.1), label_col=None)
    assert r.part.value_counts().to_dict() == {'train': 135, 'test': 15}
    nf = nested_folds(DEMO, val_fraction=0, label_col=None)
    assert set(nf.part) == {'train', 'test'} and len(nf) == 5 * 150

# ---------------------------------------------------------------- user split files
@pytest.mark.parametrize('text,msg', [
    ('id,part\ndemo-0000,train\nzzz,test\n', "data row 2: id 'zzz' is not in the data (1 unknown id(s) in all)"),
    ('id,part\ndemo-0000,train\ndemo-0001,test\ndemo-0000,test\n', "id 'demo-0000' is in parts ['test', 'train'] of split 1"),
    ('id,part\ndemo-0000,train\ndemo-0001,val\n', "split(s) [1] have no 'test' rows"),
    ('id,part,split\ndemo-0000,train,1\ndemo-0001,test,1\ndemo-0002,test,2\n', "split(s) [2] have no 'train' rows"),
    ('id,part\ndemo-0000,holdout\n', "data row 1 (id 'demo-0000'): part 'holdout' is not one of"),
    ('id,part,split\ndemo-0000,train,first\n', "split 'first' is not a positive integer"),
    ('id,role\ndemo-0000,train\n', "missing column(s) ['part']"),
])
def test_bad_split_files(tmp_path, text, msg):
    p = tmp_path/'user.csv'; p.write_text(text)
    with pytest.raises(DataError) as e:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore'); split_from_file(p, DEMO)
    assert msg in str(e.value) and str(p) in str(e.value)

def test_split_file_partial_coverage_warns(tmp_path):
    p = tmp_path/'user.csv'; p.write_text('id,part\ndemo-0000,Train\ndemo-0001,validation\ndemo-0002,TEST\n')
    with pytest.warns(UserWarning, match='147 id'): s = split_from_file(p, DEMO)
    assert s.values.tolist() == [['demo-0002', 1, 'test'], ['demo-0000', 1, 'train'], ['demo-0001', 1, 'val']]
