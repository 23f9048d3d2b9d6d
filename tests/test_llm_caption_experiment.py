"The LLM caption experiment through papermill on the demo captions with a tiny random Llama: every mode through `cross_validate`, saved per mode."
from pathlib import Path
import pandas as pd, pytest
from mllmsent.experiments import run_experiment
from mllmsent.specs import SpecError

NB = Path(__file__).resolve().parents[1]/'nbs'/'experiments'/'llm_caption_classification.ipynb'
MODES = ['zero-shot', 'k-shot', 'calibrated', 'sft', 'llm-head']

@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):   # papermill's kernel inherits the environment
    monkeypatch.setenv('HF_HUB_OFFLINE', '1'); monkeypatch.setenv('OMP_NUM_THREADS', '1')
    monkeypatch.setenv('MLLMSENT_CACHE', str(tmp_path/'cache'))   # the tiny model and the label scores stay in the test's folder

def test_every_mode_on_demo_with_a_tiny_model(tmp_path):
    params = dict(source='demo', model='tiny', modes=MODES, folds=[1, 2], max_train=24, max_val=6, max_test=8, shots=[0, 2],
                  sft_steps=2, batch_size=4, eval_points=1, max_len=128)
    res = run_experiment(NB, params, tmp_path/'run', cwd=tmp_path)
    pf = pd.DataFrame(res['per_fold'])
    assert sorted(zip(pf['mode'], pf.fold)) == sorted((m, k) for m in MODES for k in (1, 2))   # a row per mode and fold
    assert (pf.n_train == 24).all() and (pf.n_val == 6).all() and (pf.n_test == 8).all()          # the caps, in every mode
    assert pf.accuracy.between(0, 1).all() and pf.f1_weighted.between(0, 1).all()
    assert res['params']['model'] == 'tiny' and res['extra']['demo'] and res['split_sha256']
    for m in MODES:
        assert res['summary'][f'{m}_accuracy']['n'] == 2
        preds = pd.read_csv(tmp_path/'run'/m/'predictions.csv', dtype={'id': str})
        assert len(preds) == 16 and preds.id.is_unique
        assert (tmp_path/'run'/m/'curves.csv').is_file()
        assert sorted(p.name for p in (tmp_path/'run'/m/'folds').glob('fold*.json')) == ['fold1.json', 'fold2.json']
    shots = pd.read_csv(tmp_path/'run'/'k-shot'/'curves.csv')                     # k chosen on validation among [0, 2]
    assert sorted(set(shots.shots)) == [0, 2] and set(pf[pf['mode'] == 'k-shot'].shots) <= {0, 2}
    assert pf[pf['mode'].isin(['sft', 'llm-head'])].best_step.notna().all()      # the stopping point chosen on validation
    assert pf[pf['mode'] == 'calibrated'].calibrated.astype(bool).all()

def test_unknown_or_bad_parameters_stop_before_the_run(tmp_path):
    with pytest.raises(SpecError, match="unknown parameter 'mode' for LLMCaptionClassification.*did you mean 'modes'"):
        run_experiment(NB, dict(mode='sft'), tmp_path/'run', cwd=tmp_path)
    with pytest.raises(SpecError, match=r"field 'modes\[0\]' must be one of"):
        run_experiment(NB, dict(modes=['few-shot']), tmp_path/'run', cwd=tmp_path)
    with pytest.raises(SpecError, match="field 'max_test' must be"):
        run_experiment(NB, dict(max_test=0), tmp_path/'run', cwd=tmp_path)
    assert not (tmp_path/'run').exists()                                            # nothing started, nothing written
