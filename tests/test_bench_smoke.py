"The benchmarks' code paths (4-bit load, LoRA/QLoRA steps, label scoring vs generate-and-parse), run with --smoke on tiny models on the CPU."
import importlib.util, json, sys
from pathlib import Path
import pytest, torch

BENCH = Path(__file__).resolve().parents[1]/'bench'

def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH/f'{name}.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

@pytest.fixture(autouse=True)
def one_thread(): torch.set_num_threads(1)

def test_qlora_bench_smoke(tmp_path):
    out = tmp_path/'q.json'
    assert _load('bench_qlora_gpu').main(['--smoke', '--out', str(out)]) == 0
    r = json.loads(out.read_text())
    assert r['smoke'] and r['layers'] == 2 and len(r['train_losses']) == 2
    assert r['weights_4bit_gib'] > 0 and r['score_prompts_per_s'] > 0 and r['generate_prompts_per_s'] > 0

def test_llava_bench_smoke(tmp_path, monkeypatch):
    out = tmp_path/'l.json'
    monkeypatch.setattr(sys, 'argv', ['bench_llava_gpu.py'])
    assert _load('bench_llava_gpu').main(['--smoke', '--out', str(out), '--tmp', str(tmp_path)]) == 0
    r = json.loads(out.read_text())
    assert [x['variant'] for x in r['results']] == (['bf16', '4-bit'] if torch.cuda.is_available() else ['fp32', '4-bit'])
    assert all(x['predicted'] == 4 and x['train_samples_per_s'] > 0 for x in r['results'])

def test_scoring_bench_smoke(tmp_path):
    out = tmp_path/'s.json'
    assert _load('bench_scoring').main(['--smoke', '--out', str(out)]) == 0
    r = json.loads(out.read_text())
    assert r['smoke'] and r['n'] == 8 and [x['batch'] for x in r['results']] == [1] * 3 + [16] * 3
    scoring = [x for x in r['results'] if x['way'] == 'scoring']
    assert all(x['unparsed'] == 0 and x['ratio'] == 1 for x in scoring)          # scoring always answers
    assert all(x['prompts_per_s'] > 0 and 0 <= x['accuracy'] <= 1 for x in r['results'])
