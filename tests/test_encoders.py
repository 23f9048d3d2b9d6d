"Feature cache edge cases: an interrupted encoding resumes from its saved rows."
import numpy as np, pytest, torch
import mllmsent.encoders as E

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return str(E.tiny_encoder('bert', tmp_path_factory.mktemp('tiny')))

TEXTS = [f'caption number {i} ' + 'word ' * (i % 7) for i in range(12)]

def _interrupt_after(n):
    def bar(it, **kw):
        for i, x in enumerate(it):
            if i == n: raise KeyboardInterrupt
            yield x
    return bar

def test_killed_encoding_resumes_from_partial_rows(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(E, 'CHECKPOINT_SECONDS', -1)               # save after every batch
    monkeypatch.setattr(E, 'progress_bar', _interrupt_after(3))    # "killed" during the 4th batch
    with pytest.raises(KeyboardInterrupt): E.encode_texts(TEXTS, tiny, batch_size=2, cache_dir=tmp_path, progress=False)
    folder = next(tmp_path.glob('*/*'))
    parts = sorted(p.name for p in folder.iterdir())
    assert len(parts) == 2 and all(p.startswith('partial-') for p in parts), parts
    assert len(np.load(next(folder.glob('partial-*.keys.npy')))) == 6   # 3 batches of 2 were saved
    seen = []
    real = E._encode
    monkeypatch.setattr(E, '_encode', lambda texts, *a, **k: seen.append(len(texts)) or real(texts, *a, **k))
    monkeypatch.setattr(E, 'progress_bar', lambda it, **kw: it)
    X = E.encode_texts(TEXTS, tiny, batch_size=2, cache_dir=tmp_path, progress=False)
    assert seen == [6]                                               # only the rows the killed run had not finished
    np.testing.assert_allclose(X, E.encode_texts(TEXTS, tiny, batch_size=2, cache_dir=False, progress=False), atol=1e-5)
    assert not list(folder.glob('partial-*')), 'partial rows are removed once the set is complete'

def test_kill_between_rows_and_keys(tiny, tmp_path, monkeypatch):
    "Killed after a checkpoint wrote its rows but before its keys: the old keys name a prefix of the new rows."
    monkeypatch.setattr(E, 'CHECKPOINT_SECONDS', -1)
    real_save, calls = E._save_npy, []
    def save(arr, path):
        calls.append(path.name)
        if len(calls) == 4: raise KeyboardInterrupt                   # 2nd checkpoint: rows written, keys not
        real_save(arr, path)
    monkeypatch.setattr(E, '_save_npy', save)
    with pytest.raises(KeyboardInterrupt): E.encode_texts(TEXTS, tiny, batch_size=2, cache_dir=tmp_path, progress=False)
    folder = next(tmp_path.glob('*/*'))
    k, f = np.load(next(folder.glob('partial-*.keys.npy'))), np.load(next(folder.glob('partial-*[0-9a-f].npy')))
    assert (len(k), len(f)) == (2, 4)
    monkeypatch.setattr(E, '_save_npy', real_save)
    X = E.encode_texts(TEXTS, tiny, batch_size=2, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(X, E.encode_texts(TEXTS, tiny, batch_size=2, cache_dir=False, progress=False), atol=1e-5)
