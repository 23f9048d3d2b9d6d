"""Images -> captions -> table in one `mllmsent-run`: offline end to end, and killed once in the middle of captioning then
rerun, it finishes with the same table as an uninterrupted run."""
import os, sys, json, time, signal, subprocess
from pathlib import Path
import pytest, psutil

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / 'nbs' / 'experiments' / 'images_to_table.ipynb'
PARAMS = ['-p', 'n_demo', '40', '-p', 'batch_size', '2']
N_CAPTIONS = 40 * 2                                  # demo images x the two default prompts

def run_cmd(out):
    return [str(Path(sys.executable).with_name('mllmsent-run')), str(NB), '--out', str(out), *PARAMS]

@pytest.fixture
def env(tmp_path):
    return dict(os.environ, OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false', MPLBACKEND='Agg',
                MLLMSENT_CACHE=str(tmp_path / 'cache'))

def complete_rows(path):
    "Caption rows fully written (a torn last line is not counted)."
    try: return path.read_bytes().count(b'\n')
    except FileNotFoundError: return 0

def kill_tree(pid):
    "SIGKILL the run and every process it started (papermill's kernel runs in a session of its own), by process id."
    procs = psutil.Process(pid).children(recursive=True)
    for p in procs:                                  # the kernel first: it is the one writing captions
        try: p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess: pass
    os.kill(pid, signal.SIGKILL)
    psutil.wait_procs(procs, timeout=30)

def test_offline_end_to_end_and_killed_mid_captioning(tmp_path, env):
    t0 = time.time()
    whole = subprocess.run(run_cmd(tmp_path / 'whole'), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert whole.returncode == 0, whole.stderr[-3000:]
    print(f'uninterrupted run: {time.time() - t0:.0f} s')
    table = (tmp_path / 'whole' / 'images_to_table.md').read_text()
    res = json.loads((tmp_path / 'whole' / 'results.json').read_text())
    assert res['extra']['demo'] is True and 'accuracy' in res['summary']
    assert [l.split(' | ')[0] for l in table.splitlines()[2:]] == ['| detailed', '| scene'], table   # a row per prompt

    out = tmp_path / 'killed'
    p = subprocess.Popen(run_cmd(out), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    captions, t1 = out / 'captions.jsonl', time.time()
    while p.poll() is None and complete_rows(captions) < 3 and time.time() - t1 < 600: time.sleep(0.01)
    kill_tree(p.pid); p.wait()
    at_kill = complete_rows(captions)
    print('caption rows when killed:', at_kill, 'of', N_CAPTIONS)
    assert 0 < at_kill < N_CAPTIONS, at_kill                  # killed in the middle of captioning
    assert not (out / 'results.json').exists()

    again = subprocess.run(run_cmd(out), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / 'images_to_table.md').read_text() == table
    rows = [json.loads(l) for l in captions.read_text().splitlines()]
    keys = [(r['id'], r['prompt_id']) for r in rows]
    assert len(keys) == len(set(keys)) == N_CAPTIONS              # every image once per prompt: nothing lost or doubled
    whole_caps = {(r['id'], r['prompt_id']): r['caption'] for r in map(json.loads, (tmp_path / 'whole' / 'captions.jsonl').read_text().splitlines())}
    assert {(r['id'], r['prompt_id']): r['caption'] for r in rows} == whole_caps
    print(f'test took {time.time() - t0:.0f} s')
