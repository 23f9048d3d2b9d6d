"Papermill runs end to end, resume, failures, grid files, reported numbers and tables."
import json, math, os
from pathlib import Path
import nbformat, pandas as pd, pytest
from dataclasses import dataclass
from mllmsent.specs import Spec, register_spec
from mllmsent.core import data_dir
from mllmsent.experiments import (save_results, run_experiment, run_grid, load_grid, run_name, collect_results,
                                  parse_experiment_name, reported_mllmsent, render_table, write_table, main_run,
                                  ExperimentError, REPORTED_FILE)

def strict_json(path):
    def bad(c): raise ValueError(f'non-standard JSON constant {c}')
    return json.loads(Path(path).read_text(), parse_constant=bad)

@register_spec('exp')
@dataclass
class Exp(Spec):
    "The tiny test experiment's parameters."
    scale: float = 1.0       # multiplies every fold's accuracy
    fail: bool = False       # raise after saving the results
    save: bool = True        # save results at all

def make_notebook(path):
    "A tiny experiment notebook: counts its executions, writes results, and can fail after writing them."
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("output_dir = 'out'\nscale = 1.0\nfail = False\nsave = True", metadata={'tags': ['parameters']}),
        nbformat.v4.new_code_cell(
            "from pathlib import Path\nfrom mllmsent.experiments import save_results\n"
            "with open(Path(output_dir).parent/'executions.txt', 'a') as f: f.write(Path(output_dir).name + '\\n')\n"
            "if save: save_results(output_dir, {'scale': scale}, [{'fold': k, 'accuracy': 0.1*k*scale} for k in (1, 2, 3)])"),
        nbformat.v4.new_code_cell("if fail: raise RuntimeError('boom after saving')")],
        metadata={'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}})
    nbformat.write(nb, path)
    return path

def executions(folder): 
    p = Path(folder)/'executions.txt'
    return p.read_text().split() if p.exists() else []

# --- save_results ---------------------------------------------------------------------------------------------

def test_save_results_contents(tmp_path):
    pf = pd.DataFrame({'fold': [1, 2, 3], 'n': [10, 10, 9], 'n_train': [80, 80, 81], 'accuracy': [0.5, 0.6, 0.7],
                       'pearson': [0.2, float('nan'), 0.4], 'note': ['a', 'b', 'c']})
    p = save_results(tmp_path/'run', {'alpha': 3, 'data': tmp_path}, pf, summary={'best_epoch': 2},
                     split_sha256='ab'*32, extra={'predictions': 'preds.csv'})
    r = strict_json(p)
    assert sorted(r['summary']) == ['accuracy', 'best_epoch', 'pearson']
    assert math.isclose(r['summary']['accuracy']['mean'], 0.6) and math.isclose(r['summary']['accuracy']['std'], 0.1)
    assert r['summary']['pearson']['n'] == 2                      # NaN fold left out of the summary
    assert r['per_fold'][1]['pearson'] is None                    # ... and written as null
    assert r['params'] == {'alpha': 3, 'data': str(tmp_path)}
    assert (r['split_sha256'], r['extra']) == ('ab'*32, {'predictions': 'preds.csv'})
    assert set(r['versions']) >= {'python', 'torch', 'transformers', 'peft', 'scikit-learn', 'pandas'}
    assert r['versions']['pandas'] == pd.__version__ and r['timestamp'].endswith('+00:00')
    assert pd.read_csv(tmp_path/'run'/'per_fold.csv').shape == (3, 6)
    assert sorted(x.name for x in (tmp_path/'run').iterdir()) == ['per_fold.csv', 'results.json']

def test_save_results_single_fold_and_no_folds(tmp_path):
    r = strict_json(save_results(tmp_path/'a', {}, [{'accuracy': 0.8}]))
    assert r['summary']['accuracy']['mean'] == 0.8 and r['summary']['accuracy']['half_width'] is None
    r = strict_json(save_results(tmp_path/'b', {}, [], summary={'accuracy': {'mean': 0.9, 'n': 1}}))
    assert r['summary'] == {'accuracy': {'mean': 0.9, 'n': 1}} and r['per_fold'] == []

# --- grids ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('text,err,msg', [
    ('grid:\n  alpha: [3, 5]\nfixd:\n  epochs: 1\n', KeyError, "unknown top-level key(s) ['fixd']"),
    ('grid:\n  alpha: 3\n', ValueError, "grid key 'alpha' must be a non-empty list"),
    ('grid:\n  alpha: []\n', ValueError, "grid key 'alpha' must be a non-empty list"),
    ('fixed:\n  alpha: 3\n', ValueError, "key 'grid' must map parameter names"),
    ('grid:\n  alpha: [3]\nfixed: [1]\n', ValueError, "key 'fixed' must map"),
    ('grid:\n  alpha: [3]\nfixed:\n  alpha: 5\n', ValueError, "['alpha'] are both varied"),
    ('- alpha\n', TypeError, 'expected a mapping'),
    ('grid: [\n', ValueError, 'not valid YAML'),
])
def test_bad_grid_file_names_file_and_key(tmp_path, text, err, msg):
    p = tmp_path/'grid.yaml'; p.write_text(text)
    with pytest.raises(err) as e: load_grid(p)
    assert msg in str(e.value) and str(p) in str(e.value)

def test_grid_missing_file_and_name_clash(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.yaml'): load_grid(tmp_path/'nope.yaml')
    assert run_name({'model': 'org/model name', 'lr': 1e-05}) == 'model=org-model-name__lr=1e-05'
    with pytest.raises(ValueError, match='clashing run folder names'):
        run_grid(tmp_path/'x.ipynb', {'grid': {'m': ['a/b', 'a-b']}}, tmp_path/'runs')

def test_cli_bad_grid_exits_1_without_running(tmp_path, capsys):
    nb = make_notebook(tmp_path/'exp.ipynb')
    (tmp_path/'g.yaml').write_text('grids:\n  scale: [1]\n')
    assert main_run(nb, out=tmp_path/'runs', grid=tmp_path/'g.yaml') == 1
    err = capsys.readouterr().err
    assert "unknown top-level key(s) ['grids']" in err and 'g.yaml' in err
    assert not (tmp_path/'runs').exists()

# --- papermill end to end (each run starts a kernel: keep these few) ----------------------------------------------

def test_run_experiment_resume_and_overwrite(tmp_path):
    nb = make_notebook(tmp_path/'exp.ipynb')
    run = tmp_path/'runs'/'scale=2'
    r = run_experiment(nb, {'scale': 2.0}, run)
    assert math.isclose(r['summary']['accuracy']['mean'], 0.4) and r['params'] == {'scale': 2.0}
    assert (run/'exp.ipynb').exists() and (run/'per_fold.csv').exists()
    executed = nbformat.read(run/'exp.ipynb', as_version=4)
    assert any('injected-parameters' in c.metadata.get('tags', []) for c in executed.cells)
    assert run_experiment(nb, {'scale': 2.0}, run) == r          # resumed: not executed again
    assert executions(tmp_path/'runs') == ['scale=2']
    r3 = run_experiment(nb, {'scale': 3.0}, run, overwrite=True)
    assert executions(tmp_path/'runs') == ['scale=2', 'scale=2'] and math.isclose(r3['summary']['accuracy']['mean'], 0.6)

def test_failing_notebook_leaves_no_results(tmp_path):
    nb = make_notebook(tmp_path/'exp.ipynb')
    run = tmp_path/'runs'/'bad'
    save_results(run, {'old': True}, [{'accuracy': 1.0}])           # a stale result that overwrite must not keep
    with pytest.raises(ExperimentError) as e: run_experiment(nb, {'fail': True}, run, overwrite=True)
    msg = str(e.value)
    assert str(nb) in msg and 'fail=True' in msg and str(run/'exp.ipynb') in msg and 'boom after saving' in msg
    assert executions(tmp_path/'runs') == ['bad']                   # it ran, wrote results, then failed
    assert not (run/'results.json').exists()

def test_notebook_without_save_results(tmp_path):
    nb = make_notebook(tmp_path/'exp.ipynb')
    with pytest.raises(ExperimentError, match=r'wrote no .*results.json.*save_results'):
        run_experiment(nb, {'save': False}, tmp_path/'runs'/'nosave')

def test_resume_refuses_a_run_with_other_params(tmp_path):
    nb = make_notebook(tmp_path/'exp.ipynb')
    save_results(tmp_path/'run', {'scale': 1.0}, [{'accuracy': 0.5}])
    assert run_experiment(nb, {'scale': 1.0, 'save': True}, tmp_path/'run')['summary']['accuracy']['mean'] == 0.5
    with pytest.raises(ExperimentError, match=r"other parameters.*'scale': \(1.0, 2.0\)"):
        run_experiment(nb, {'scale': 2.0}, tmp_path/'run')
    assert executions(tmp_path) == []

def test_missing_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.ipynb'): run_experiment(tmp_path/'missing.ipynb', {}, tmp_path/'r')

def test_cli_grid_and_collect(tmp_path, capsys):
    nb = make_notebook(tmp_path/'exp.ipynb')
    (tmp_path/'g.yaml').write_text('grid:\n  scale: [1, 2]\nfixed:\n  fail: false\n')
    out = tmp_path/'runs'
    save_results(out/'scale=1', {'scale': 1, 'fail': False}, [{'fold': 1, 'accuracy': 0.5}, {'fold': 2, 'accuracy': 0.7}])  # finished
    assert main_run(nb, out=out, grid=tmp_path/'g.yaml', Param={'save': 'true'}) == 0     # a string is read as YAML, as -p does
    assert executions(out) == ['scale=2']
    printed = capsys.readouterr().out
    assert '2 runs' in printed and 'scale=2' in printed
    df = collect_results(out)
    assert df['run'].tolist() == ['scale=1', 'scale=2']
    assert df['accuracy_mean'].round(6).tolist() == [0.6, 0.4] and df['accuracy_n'].tolist() == [2, 3]
    assert df['scale'].tolist() == [1, 2] and 'output_dir' not in df.columns  # params as each notebook recorded them
    again = run_grid(nb, tmp_path/'g.yaml', out, fixed={'save': True})   # all finished: nothing runs
    assert executions(out) == ['scale=2'] and again['run'].tolist() == ['scale=1', 'scale=2']
    assert again['save'].tolist() == [True, True] and again['fail'].tolist() == [False, False]
    assert again['accuracy_mean'].round(6).tolist() == [0.6, 0.4]

# --- reported numbers and tables -----------------------------------------------------------------------------------

@pytest.mark.parametrize('name,expected', [
    ('openai-bart-experiment-p5-alpha3', ('gpt4o-mini', 'bart', 'p5', 3)),
    ('deepseek-llama3-qlora-p3-alpha5', ('deepseek', 'llama3-qlora', 'p3', 5)),
    ('distil-experiment-p3-alpha3', ('minigpt4', 'distil', 'p3', 3)),
    ('openai-swin-experiment-p3-alpha3', ('gpt4o-mini', 'swin', 'p3', 3)),
    ('openai-bart-experiment-p2neg-alpha3', ('gpt4o-mini', 'bart', 'p2neg', 3)),
    ('gemini-llama3-qlora-p5-alpha5', ('gemini', 'llama3-qlora', 'p5', 5)),
    ('modernbert-experiment-p2plus-alpha5', ('minigpt4', 'modernbert', 'p2plus', 5)),
])
def test_parse_experiment_name(name, expected):
    assert tuple(parse_experiment_name(name).values()) == expected

@pytest.mark.data
def test_reported_real_file():
    rep = reported_mllmsent()
    assert len(rep) == 112 and rep['experiment'].is_unique is False  # same names in several groups
    assert set(rep['source']) == {'minigpt4', 'deepseek', 'gpt4o-mini', 'gemini'}
    assert set(rep['setting']) == {'finetuning', 'not-finetuning', 'swin', 'twitter'}
    folds = pd.read_csv(data_dir().parent/'anchors'/REPORTED_FILE)
    one = folds.query("group == 'experiments-swin' and experiment == 'openai-swin-experiment-p5-alpha5'")
    row = reported_mllmsent(group='experiments-swin').set_index('experiment').loc['openai-swin-experiment-p5-alpha5']
    assert math.isclose(row['f1_weighted_mean'], one['f1_weighted'].mean()) and row['n_folds'] == len(one)

def test_reported_bad_files(tmp_path):
    p = tmp_path/'rep.csv'
    p.write_text('group,experiment,fold,accuracy,f1_weighted\nexperiments-x,bart-experiment-p3-alpha3,1,0.5,0.5\n'
                 'experiments-x,roberta-p3-alpha3,1,0.5,0.5\n')
    with pytest.raises(ValueError, match=r"rep.csv, row 3, field 'experiment': Cannot parse experiment name 'roberta-p3-alpha3'"): reported_mllmsent(p)
    with pytest.raises(ValueError, match=r"no group 'y'"): reported_mllmsent(p, group='y')
    p.write_text('group,experiment,fold,accuracy\n')
    with pytest.raises(KeyError, match=r"\['f1_weighted'\] missing"): reported_mllmsent(p)
    with pytest.raises(FileNotFoundError, match='absent.csv'): reported_mllmsent(tmp_path/'absent.csv')

@pytest.mark.data
def test_render_table_beside_reported_and_escaping(tmp_path):
    rep = reported_mllmsent(group='finetuning')
    mine = pd.DataFrame({'source': ['gpt4o-mini', 'none|x'], 'model': ['bart', 'bart'], 'problem': ['p3', 'p3'],
                         'alpha': [3, 3], 'accuracy_mean': [0.75, 0.5], 'accuracy_hw': [0.01, float('nan')],
                         'f1_weighted_mean': [0.74, 0.5], 'f1_weighted_hw': [0.02, 0.1]})
    t = render_table(mine, reported=rep, digits=1, percent=True)
    assert list(t.frame.columns) == ['source', 'model', 'problem', 'alpha', 'reproduced acc', 'reported acc',
                                     'reproduced F1w', 'reported F1w']
    ref = rep.query("source == 'gpt4o-mini' and model == 'bart' and problem == 'p3' and alpha == 3").iloc[0]
    assert t.frame.iloc[0].tolist() == ['gpt4o-mini', 'bart', 'p3', 3, '75.0 ± 1.0', f"{100*ref.accuracy_mean:.1f} ± {100*ref.accuracy_hw:.1f}",
                                        '74.0 ± 2.0', f"{100*ref.f1_weighted_mean:.1f} ± {100*ref.f1_weighted_hw:.1f}"]
    assert t.frame.iloc[1]['reproduced acc'] == '50.0' and t.frame.iloc[1]['reported acc'] == '–'
    assert r'| none\|x | bart |' in t.markdown and t.markdown.count('\n') == 4
    assert r'75.0 $\pm$ 1.0' in t.latex and r'reproduced acc' in t.latex and '--' in t.latex
    with pytest.raises(ValueError, match='not unique'): render_table(mine, reported=reported_mllmsent())
    with pytest.raises(KeyError, match='no column f1_macro_mean'): render_table(mine, metrics=['f1_macro'])
    md, tex = write_table(t, tmp_path/'tab'/'bart')
    assert md.read_text() == t.markdown and tex.read_text() == t.latex and tex.name == 'bart.tex'
    assert sorted(x.name for x in (tmp_path/'tab').iterdir()) == ['bart.md', 'bart.tex']
    alias = render_table(mine.assign(model='modern-bert').iloc[:1], metrics=['accuracy'], reported=rep)
    mb = rep.query("source == 'gpt4o-mini' and model == 'modernbert' and problem == 'p3' and alpha == 3").iloc[0]
    assert alias.frame.loc[0, 'reported acc'] == f"{mb.accuracy_mean:.3f} ± {mb.accuracy_hw:.3f}"
    under = render_table(pd.DataFrame({'model': ['a_b%'], 'accuracy_mean': [0.5]}), metrics=['accuracy'], caption='x & y', label='tab:x')
    assert r'a\_b\%' in under.latex and r'\caption{x \& y}' in under.latex and r'\label{tab:x}' in under.latex

def test_cli_parameter_values_read_as_yaml_with_python_none():
    from mllmsent.experiments import _yaml_value
    assert _yaml_value('None') is None and _yaml_value('null') is None
    assert _yaml_value('1e-5') == 1e-5 and _yaml_value('3') == 3
    assert _yaml_value('[1, 2, 3]') == [1, 2, 3] and _yaml_value('minigpt4') == 'minigpt4'

def test_cli_grid_jobs_runs_each_once(tmp_path, capsys):
    nb = make_notebook(tmp_path/'exp.ipynb')
    (tmp_path/'g.yaml').write_text('grid:\n  scale: [1, 2, 3]\n')
    out = tmp_path/'runs'
    assert main_run(nb, out=out, grid=tmp_path/'g.yaml', jobs=2) == 0
    assert sorted(executions(out)) == ['scale=1', 'scale=2', 'scale=3']      # each run once, two kernels at a time
    assert collect_results(out)['accuracy_mean'].round(6).tolist() == [0.2, 0.4, 0.6]
    assert main_run(nb, out=out, grid=tmp_path/'g.yaml', jobs=2) == 0
    assert len(executions(out)) == 3                                          # finished: nothing runs again

def test_grid_jobs_failure_starts_no_more_runs(tmp_path):
    nb = make_notebook(tmp_path/'exp.ipynb')
    grid = {'grid': {'scale': [1, 2, 3, 4, 5, 6, 7, 8]}, 'fixed': {'fail': True}}
    here = Path.cwd()
    with pytest.raises(ExperimentError, match='boom after saving'): run_grid(nb, grid, tmp_path/'runs', jobs=2)
    assert Path.cwd() == here                                                 # the process directory is never changed
    assert 1 <= len(executions(tmp_path/'runs')) <= 4    # those under way when the first failed (a freed worker may take one more)
    assert not list((tmp_path/'runs').glob('*/results.json'))

def test_kernel_starts_in_cwd_whatever_the_process_directory(tmp_path, monkeypatch):
    """With --jobs, one run's papermill put the process directory back while another run's kernel was starting, so that
    kernel started elsewhere and its relative paths failed (CI, 2026-12-07). Simulated deterministically: chdir does nothing."""
    (tmp_path/'nbs').mkdir(); (tmp_path/'elsewhere').mkdir()
    nb = make_notebook(tmp_path/'nbs'/'exp.ipynb')
    monkeypatch.chdir(tmp_path/'elsewhere')
    monkeypatch.setattr(os, 'chdir', lambda path: None)
    res = run_experiment(nb, {'scale': 2}, tmp_path/'nbs'/'runs'/'one')           # the kernel's cwd: the notebook's folder
    assert executions(tmp_path/'nbs'/'runs') == ['one'] and math.isclose(res['summary']['accuracy']['mean'], 0.4)
    assert not any((tmp_path/'elsewhere').iterdir())

def test_cli_checks_across_flags_after_each_flag(tmp_path, capsys, monkeypatch):
    "A check that needs two flags (EmoLLMs: sft_steps needs an LLM `model`) passes when both are given, fails naming the flags when not."
    import mllmsent.experiments as experiments
    nb = Path(__file__).parents[1]/'nbs'/'experiments'/'emollms.ipynb'
    assert main_run(nb, out=tmp_path/'a', Param={'sft_steps': '8'}) == 1
    err = capsys.readouterr().err
    assert '-p flags' in err and 'the feature baseline has nothing to fine-tune' in err
    assert not (tmp_path/'a').exists()
    seen = []
    monkeypatch.setattr(experiments, 'run_experiment', lambda nb, params, out, **kw: seen.append(params) or {})
    assert main_run(nb, out=tmp_path/'b', Param={'model': 'smollm2', 'sft_steps': '8'}) == 0
    assert seen == [{'model': 'smollm2', 'sft_steps': 8}]
