"End to end: the VADER caption experiment through papermill, on the real captions and on the demo set."
import json, os, subprocess, sys
from pathlib import Path
import pandas as pd, pytest
from mllmsent.core import data_dir
from mllmsent.experiments import run_experiment

NB = Path(__file__).resolve().parents[1]/'nbs'/'experiments'/'vader_captions.ipynb'

@pytest.mark.skipif(data_dir() is None, reason='no ../shared/data here')
def test_vader_on_real_captions_writes_paper_table(tmp_path):
    res = run_experiment(NB, dict(sources=['gpt4o-mini'], problems=['p5'], alphas=[5], data_dir=str(data_dir()),
                                  papers_dir=str(tmp_path/'papers')), tmp_path/'run')
    cell = json.loads((tmp_path/'run'/'cells'/'gpt4o-mini_p5_alpha5'/'results.json').read_text())
    assert len(cell['per_fold']) == 5 and cell['split_sha256']
    assert 0.4 < cell['summary']['accuracy']['mean'] < 0.95      # far above chance (0.2), well below perfect
    md = (tmp_path/'papers'/'vader_captions.md').read_text()
    assert '| gpt4o-mini | p5 | 5 |' in md and ' ± ' in md and 'reported' in md
    assert (tmp_path/'papers'/'vader_captions.tex').read_text().count(r'\pm') >= 2
    preds = pd.read_csv(tmp_path/'run'/'predictions.csv')
    assert len(preds) == 445 and preds.id.is_unique              # every row predicted once, as a test row

def test_vader_without_data_runs_on_demo_set(tmp_path, monkeypatch):
    # papermill's kernel inherits the environment: no MLLMSENT_DATA and a cwd with no shared/data above it
    monkeypatch.delenv('MLLMSENT_DATA', raising=False)
    run_experiment(NB, dict(papers_dir=str(tmp_path/'papers')), tmp_path/'run', cwd=tmp_path)
    res = pd.read_csv(tmp_path/'papers'/'vader_captions_results.csv')
    assert set(res.source) == {'demo'} and set(res.problem) == {'p3', 'p5'}
    assert (res.accuracy_mean > 0.5).all()
