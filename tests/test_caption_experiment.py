"The caption classification experiment through papermill on the demo captions: frozen MiniLM, and fine-tuning that resumes."
import json, os
from pathlib import Path
import pandas as pd, pytest
from mllmsent.core import get_task
from mllmsent.data import demo_captions
from mllmsent.experiments import run_experiment
from mllmsent.encoders import tiny_encoder

NB = Path(__file__).resolve().parents[1]/'nbs'/'experiments'/'caption_classification.ipynb'

@pytest.fixture(autouse=True)
def offline(monkeypatch):   # papermill's kernel inherits the environment
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setenv('OMP_NUM_THREADS', '1')

def test_frozen_minilm_on_demo(tmp_path):
    res = run_experiment(NB, dict(source='demo', problem='p3', mode='frozen', cache_dir=str(tmp_path/'cache')), tmp_path/'run', cwd=tmp_path)
    assert len(res['per_fold']) == 5 and res['split_sha256'] and res['extra']['n_rows'] == 200
    assert res['summary']['accuracy']['mean'] > 0.6                     # demo cues are learnable; chance is 1/3
    preds = pd.read_csv(tmp_path/'run'/'predictions.csv')
    assert len(preds) == 200 and preds.id.is_unique

def test_unknown_or_bad_parameters_stop_before_the_run(tmp_path):
    from mllmsent.specs import SpecError
    with pytest.raises(SpecError, match="unknown parameter 'seedz'.*did you mean 'seed'"):
        run_experiment(NB, dict(seedz=7), tmp_path/'run', cwd=tmp_path)
    with pytest.raises(SpecError, match="field 'lr' must be > 0, got -0.1"):
        run_experiment(NB, dict(lr=-0.1), tmp_path/'run', cwd=tmp_path)
    assert not (tmp_path/'run').exists()                                 # nothing started, nothing written

def test_finetune_run_resumes_from_its_finished_folds(tmp_path):
    model = tiny_encoder('bert', tmp_path/'tiny', labels=get_task('p3').labels, corpus=demo_captions('p3').text)
    params = dict(source='demo', problem='p3', mode='finetune', model=str(model), epochs=1, batch_size=16, max_len=32,
                  lr=1e-3, max_rows=60)
    run = tmp_path/'run'
    first = run_experiment(NB, params, run, cwd=tmp_path)
    folds = run/'folds'
    assert sorted(p.name for p in folds.glob('fold*.json')) == [f'fold{k}.json' for k in range(1, 6)]
    # as if the run had been killed during fold 4: its results and folds 4-5 are gone
    (run/'results.json').unlink(); (folds/'fold4.json').unlink(); (folds/'fold5.json').unlink()
    kept = {k: (folds/f'fold{k}.json').stat().st_mtime_ns for k in (1, 2, 3)}
    again = run_experiment(NB, params, run, cwd=tmp_path)
    assert {k: (folds/f'fold{k}.json').stat().st_mtime_ns for k in (1, 2, 3)} == kept   # read back, not trained again
    assert (folds/'fold5.json').exists()
    a, b = pd.DataFrame(first['per_fold']), pd.DataFrame(again['per_fold'])
    pd.testing.assert_frame_equal(a.drop(columns='seconds'), b.drop(columns='seconds'), check_dtype=False, atol=1e-9)
    assert len(pd.read_csv(run/'predictions.csv')) == again['extra']['n_rows']


def _write_logs(folder, df):
    "MLLMsent's raw per-fold logs of a caption table: test_logs_0{k}.csv with id,text,target,prediction."
    folder.mkdir(parents=True)
    for k, g in df.groupby('fold'):
        g.rename(columns={'label': 'target'}).assign(prediction=0)[['id', 'text', 'target', 'prediction']].to_csv(folder/f'test_logs_0{k}.csv')
    return folder

@pytest.mark.data
def test_a_new_caption_source_and_raw_logs_run_unchanged(tmp_path):
    """Must show (issue 13): a shipped caption CSV under a new name, and MLLMsent's raw per-fold logs, each run through
    caption_classification unchanged: the same folds, so the same per-fold numbers as the shipped file."""
    import shutil
    from mllmsent.data import caption_file, load_caption_set
    shutil.copy(caption_file('gpt4o-mini', 'p5', 5), tmp_path/'my-mllm_p5_alpha5.csv')
    logs = _write_logs(tmp_path/'openai-bart-experiment-p5-alpha5'/'logs', load_caption_set('gpt4o-mini', 'p5', 5))
    common = dict(problem='p5', alpha=5, mode='frozen', cache_dir=str(tmp_path/'cache'))
    from mllmsent.core import data_dir
    runs = {'shipped': dict(source='gpt4o-mini', data_dir=str(data_dir())), 'new name': dict(source='my-mllm', data_dir=str(tmp_path)),
            'raw logs': dict(source='my-logs', captions=str(logs.parent))}
    res = {k: run_experiment(NB, {**common, **v}, tmp_path/k.replace(' ', '-'), cwd=tmp_path) for k, v in runs.items()}
    assert not any(r['extra']['demo'] for r in res.values())   # the run's cwd is tmp_path: the data folder is passed, not found
    acc = {k: [round(f['accuracy'], 10) for f in r['per_fold']] for k, r in res.items()}
    assert len(acc['shipped']) == 5 and acc['new name'] == acc['shipped'] == acc['raw logs'], acc
    assert res['new name']['extra']['n_rows'] == res['raw logs']['extra']['n_rows'] == 445
