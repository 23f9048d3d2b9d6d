"Edge cases of configs, tasks and atomic writes that read badly as a docs page."
import json, pytest
from pathlib import Path
from mllmsent.core import (load_config, config_from_dict, get_task, label_code, label_name, atomic_write,
                           write_json, data_dir, TASKS)

@pytest.mark.parametrize('yaml_text,msg', [
    ('epochs: 1.5\n', "field 'epochs' must be int"),
    ('batch_size: "8"\n', "field 'batch_size' must be int"),
    ('learning_rate: fast\n', "field 'learning_rate' must be float"),
    ('experiment_name: [a, b]\n', "field 'experiment_name' must be str"),
    ('epochs: true\n', "field 'epochs' must be int"),
    ('model_nme: bart\n', "unknown key(s) ['model_nme']"),
    ('task: p7\n', "Unknown task 'p7'"),
    ('val_fraction: 1.5\n', "'val_fraction' must be in (0, 1)"),
    ('- a\n- b\n', 'expected a mapping'),
    ('epochs: [\n', 'not valid YAML'),
])
def test_bad_yaml_names_file_and_field(tmp_path, yaml_text, msg):
    p = tmp_path/'exp.yaml'; p.write_text(yaml_text)
    with pytest.raises((TypeError, KeyError, ValueError)) as e: load_config(p)
    assert msg in str(e.value) and str(p) in str(e.value)

def test_mllmsent_keys_load_unchanged(tmp_path):
    p = tmp_path/'bart.yaml'
    p.write_text('experiment_name: bart p3\nlearning_rate: 2e-5\nbatch_size: 16\nepochs: 10\nmodel_path: facebook/bart-large-mnli\n'
                 'model_name: bart\nmax_len: 512\nlog_dir: logs\ncheckpoint_dir: ckpt\n')
    c = load_config(p)
    assert (c.learning_rate, c.model_path, c.max_len, c.checkpoint_dir) == (2e-5, 'facebook/bart-large-mnli', 512, 'ckpt')

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
