"End to end: the VADER caption experiment through papermill, on the real captions and on the demo set."
import json, os, subprocess, sys
from pathlib import Path
import pandas as pd, pytest
from mllmsent.core import data_dir
from mllmsent.experiments import run_experiment

NB = Path(__file__).resolve().parents[1]/'nbs'/'experiments'/'vader_captions.ipynb'

@pytest.mark.data
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
    res = run_experiment(NB, {}, tmp_path/'runs'/'vader', cwd=tmp_path)
    assert res['extra']['demo'] and res['params']['output_dir'] == 'runs/vader'    # paths relative to the working directory
    table = pd.read_csv(tmp_path/'runs'/'vader'/'vader_captions_results.csv')
    assert set(table.source) == {'demo'} and set(table.problem) == {'p3', 'p5'} and set(table.data_dir) == {'demo'}
    assert (table.accuracy_mean > 0.5).all()
    assert 'DEMO' in (tmp_path/'runs'/'vader'/'vader_captions.md').read_text()
    # a demo run refuses to write paper tables
    with pytest.raises(Exception, match='paper tables are made from the real captions only'):
        run_experiment(NB, dict(papers_dir=str(tmp_path/'papers')), tmp_path/'runs'/'vader2', cwd=tmp_path)
    assert not (tmp_path/'papers').exists()

def test_main_command_in_a_fresh_shell(tmp_path, monkeypatch):
    "The README's second command, as typed: through .venv/bin, no data folder, writes under runs/ and says DEMO."
    monkeypatch.delenv('MLLMSENT_DATA', raising=False)
    exe = Path(sys.executable).with_name('mllmsent-run')
    r = subprocess.run([str(exe), str(NB), '--out', 'runs/vader'], cwd=tmp_path, capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != 'MLLMSENT_PROGRESS'}, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'DEMO' in r.stdout and 'DEMO' in r.stderr              # on the terminal: the summary, and the run's own message
    assert 'without encryption' not in r.stderr and 'IProgress' not in r.stderr and 'KeyboardInterrupt' not in r.stderr
    assert (tmp_path/'runs'/'vader'/'vader_captions.md').exists() and sorted(p.name for p in tmp_path.iterdir()) == ['runs']
