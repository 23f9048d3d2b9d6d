"Typed experiment specs: every way parameters come in (dict, YAML, -p flags, grid files) is checked before a run starts."
import subprocess, sys
from pathlib import Path
import pytest, yaml
from mllmsent.specs import (SpecError, CaptionClassification, VaderCaptions, EXPERIMENT_SPECS, load_spec, spec_for, show_params,
                            field_help)
from mllmsent.experiments import run_grid

NBS = Path(__file__).resolve().parents[1]/'nbs'/'experiments'
MLLMSENT_RUN = Path(sys.executable).with_name('mllmsent-run')   # the console script, as typed

@pytest.mark.parametrize('yaml_text,msg', [
    ('epochs: 1.5\n', "field 'epochs' must be int"),
    ('batch_size: "8"\n', "field 'batch_size' must be int"),
    ('learning_rate: fast\n', "field 'lr' must be float"),
    ('experiment_name: [a, b]\n', "field 'name' must be str"),
    ('epochs: true\n', "field 'epochs' must be int"),
    ('model_nme: bart\n', "unknown parameter 'model_nme'"),
    ('problem: p7\n', "field 'problem' must be one of"),
    ('val_fraction: 1.5\n', "field 'val_fraction' must be <= 1"),
    ('lr: -0.1\n', "field 'lr' must be > 0"),
    ('- a\n- b\n', 'expected a mapping'),
    ('', 'expected a mapping'),
    ('epochs: [\n', 'not valid YAML'),
])
def test_bad_yaml_names_file_and_field(tmp_path, yaml_text, msg):
    p = tmp_path/'exp.yaml'; p.write_text(yaml_text)
    with pytest.raises(SpecError) as e: load_spec(CaptionClassification, p)
    assert msg in str(e.value) and str(p) in str(e.value)

def test_mllmsent_keys_load_unchanged(tmp_path):
    p = tmp_path/'bart.yaml'
    p.write_text('experiment_name: bart p3\nlearning_rate: 2e-5\nbatch_size: 16\nepochs: 10\nmodel_path: facebook/bart-large-mnli\n'
                 'max_len: 512\nlog_dir: logs\ncheckpoint_dir: ckpt\n')
    c = load_spec(CaptionClassification, p)
    assert (c.lr, c.model, c.max_len, c.checkpoint_dir, c.name) == (2e-5, 'facebook/bart-large-mnli', 512, 'ckpt', 'bart p3')

def test_every_experiment_has_a_spec_with_help():
    for nb in NBS.glob('*.ipynb'):
        cls = spec_for(nb)
        helps = field_help(cls)
        missing = [f for f in cls.__dataclass_fields__ if f not in helps]
        assert not missing, f"{cls.__name__}: fields without a help comment: {missing}"
        assert cls.parse({}) is not None                                  # the defaults are valid

def run_cli(*args, cwd):
    return subprocess.run([str(MLLMSENT_RUN), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300)

@pytest.mark.parametrize('flags,msg', [
    (['-p', 'seedz', '7'], "-p seedz: unknown parameter 'seedz' for VaderCaptions (did you mean 'seed'?)"),
    (['-p', 'val_fraction', '-0.1'], "-p val_fraction: field 'val_fraction' must be > 0, got -0.1"),
    (['-p', 'problems', 'p3'], "-p problems: field 'problems' must be a list"),
    (['-p', 'alphas', '[3, 7]'], "-p alphas: field 'alphas[1]' must be <= 5, got 7"),
])
def test_cli_refuses_bad_flags_before_running(tmp_path, flags, msg):
    r = run_cli(str(NBS/'vader_captions.ipynb'), '--out', 'runs/x', *flags, cwd=tmp_path)
    assert r.returncode != 0 and msg in r.stderr, r.stderr
    assert not (tmp_path/'runs').exists()

def test_python_call_checks_param_values_as_the_flags_do(tmp_path, monkeypatch, capsys):
    "From Python `Param` is a dict of values (strings are read as YAML, as -p reads them); a bad one is named, nothing runs."
    monkeypatch.chdir(tmp_path); monkeypatch.delenv('MLLMSENT_PROGRESS', raising=False)   # main_run sets it for its kernels
    from mllmsent.experiments import main_run
    assert main_run(NBS/'vader_captions.ipynb', out='runs/x', Param={'alphas': [3, 7]}) == 1
    assert "-p alphas: field 'alphas[1]' must be <= 5, got 7" in capsys.readouterr().err
    assert main_run(NBS/'vader_captions.ipynb', out='runs/x', Param={'val_fraction': '-0.1'}) == 1
    assert "-p val_fraction: field 'val_fraction' must be > 0, got -0.1" in capsys.readouterr().err
    assert main_run(NBS/'vader_captions.ipynb', Param={'seed': 1}) == 2 and 'required: --out' in capsys.readouterr().err
    assert not (tmp_path/'runs').exists()

@pytest.mark.parametrize('grid,msg', [
    ({'grid': {'seedz': [1, 2]}}, "unknown parameter 'seedz'"),
    ({'grid': {'alpha': [3, 5]}, 'fixed': {'lr': -0.1}}, "field 'lr' must be > 0"),
    ({'grid': {'problem': ['p3', 'p9']}}, "field 'problem' must be one of"),
])
def test_grid_keys_and_values_checked_before_any_run(tmp_path, grid, msg):
    g = tmp_path/'g.yaml'; g.write_text(yaml.safe_dump(grid))
    r = run_cli(str(NBS/'caption_classification.ipynb'), '--grid', str(g), '--out', 'runs/g', cwd=tmp_path)
    assert r.returncode != 0 and msg in r.stderr and 'g.yaml' in r.stderr, r.stderr
    assert not (tmp_path/'runs').exists()

def test_empty_grid_file_is_refused(tmp_path):
    g = tmp_path/'g.yaml'; g.write_text('')
    r = run_cli(str(NBS/'caption_classification.ipynb'), '--grid', str(g), '--out', 'runs/g', cwd=tmp_path)
    assert r.returncode != 0 and 'g.yaml' in r.stderr

def test_show_params_lists_fields_with_help(tmp_path):
    r = run_cli(str(NBS/'caption_classification.ipynb'), '--show-params', cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert 'learning rate' in r.stdout and "'frozen' | 'finetune' | 'zero-shot'" in r.stdout and 'learning_rate (= lr)' in r.stdout
