"Edge cases of tasks, data paths and atomic writes that read badly as a docs page."
import json, pytest
from pathlib import Path
from mllmsent.core import (get_task, label_code, label_name, atomic_write,
                           write_json, data_dir, TASKS)

def test_every_task_has_consistent_values():
    for t in TASKS.values():
        if t.values is not None: assert len(t.values) == len(t.labels), t.name
        if t.kind in ('classification', 'ordinal'): assert sorted(t.polarity_order) == list(range(t.n_labels))

def test_label_round_trip():
    for t in TASKS.values():
        for i, l in enumerate(t.labels): assert label_code(t, l) == i and label_name(t, i) == l
    with pytest.raises(ValueError, match='not an integer'): label_name(get_task('p5'), 'two')

def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    p = tmp_path/'sub'/'x.json'
    with pytest.raises(ZeroDivisionError):
        with atomic_write(p) as f: f.write('{"a":'); 1/0
    assert not p.exists() and list((tmp_path/'sub').iterdir()) == []
    write_json({'a': 1}, p); assert json.loads(p.read_text()) == {'a': 1}

def test_data_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv('MLLMSENT_DATA', str(tmp_path)); assert data_dir() == tmp_path
    monkeypatch.setenv('MLLMSENT_DATA', str(tmp_path/'nope'))
    with pytest.raises(FileNotFoundError, match='MLLMSENT_DATA'): data_dir()
