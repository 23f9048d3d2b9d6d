"""Bad input from the one-engine issue that belongs to no single loader: checkpoints that disagree with themselves,
an empty file to label, a degenerate batch size, a stray fold number, and ids the engine cannot join on."""
import json, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from mllmsent.core import get_task
from mllmsent.data import demo_captions, DataError
from mllmsent.encoders import tiny_encoder, encode_texts, length_batches
from mllmsent.heads import fit_head
from mllmsent.finetune import finetune
from mllmsent.checkpoints import save_checkpoint, load_checkpoint, CheckpointError, CHECKPOINT_JSON
from mllmsent.splits import fixed_folds
from mllmsent.routes import Majority
from mllmsent.crossval import cross_validate

P3 = get_task('p3').labels

@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    "A fine-tuned tiny DistilBERT and a frozen MiniLM head, saved as checkpoints."
    root, df = tmp_path_factory.mktemp('ck'), demo_captions('p3', n=30)
    tiny = tiny_encoder('distil-bert', root/'tiny', labels=P3, corpus=df.text)
    m, tok, s = finetune(df[:20], df[20:25], 'p3', str(tiny), max_steps=1, eval_steps=1, batch_size=8, max_len=32)
    save_checkpoint(root/'ft', 'p3', str(tiny), model=m, tokenizer=tok, max_len=32, training=s)
    X = encode_texts(df.text, cache_dir=False, progress=False)
    save_checkpoint(root/'frozen', 'p3', 'minilm', head=fit_head(X[:20], df.label[:20], X[20:25], df.label[20:25]), pooling='mean')
    return root

def _copy(src, dst):
    import shutil; shutil.copytree(src, dst); return dst

def _edit_meta(folder, **changes):
    p = folder/CHECKPOINT_JSON; meta = json.loads(p.read_text()); meta.update(changes); p.write_text(json.dumps(meta))

@pytest.mark.parametrize('kind', ['ft', 'frozen'])
@pytest.mark.parametrize('labels', [['negative', 'neutral', 'positive'],            # reordered
                                    ['neutral', 'negative'],                        # fewer
                                    ['neutral', 'negative', 'positive', 'mixed']])  # one more
def test_checkpoint_labels_that_disagree_are_refused(saved, tmp_path, kind, labels):
    ck = _copy(saved/kind, tmp_path/kind)
    _edit_meta(ck, labels=labels)
    with pytest.raises(CheckpointError, match=f"{CHECKPOINT_JSON} lists labels"): load_checkpoint(ck)

@pytest.mark.parametrize('kind,file', [('ft', 'model.safetensors'), ('frozen', 'head.safetensors')])
def test_truncated_weights_name_the_file(saved, tmp_path, kind, file):
    ck = _copy(saved/kind, tmp_path/kind)
    w = ck/file; w.write_bytes(w.read_bytes()[:len(w.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match=f"{file} is damaged or truncated"): load_checkpoint(ck)

def test_broken_json_and_missing_keys(saved, tmp_path):
    ck = _copy(saved/'frozen', tmp_path/'c')
    (ck/CHECKPOINT_JSON).write_text('{"mode": "frozen"')
    with pytest.raises(CheckpointError, match='is not valid JSON'): load_checkpoint(ck)
    (ck/CHECKPOINT_JSON).write_text('{"mode": "frozen", "task": "p3"}')
    with pytest.raises(CheckpointError, match=r"missing key\(s\) \['head', 'labels'"): load_checkpoint(ck)

def test_predict_cli_on_empty_input_and_bad_checkpoint(saved, tmp_path):
    (tmp_path/'in.csv').write_text('text\n')
    cmd = [str(Path(sys.executable).with_name('mllmsent-predict'))]
    r = subprocess.run(cmd + ['--checkpoint', str(saved/'frozen'), '--input', str(tmp_path/'in.csv'), '--output', str(tmp_path/'o.csv')],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'has a header but no rows' in r.stderr and not (tmp_path/'o.csv').exists()
    ck = _copy(saved/'ft', tmp_path/'ft'); _edit_meta(ck, labels=['a', 'b', 'c'])
    (tmp_path/'in.csv').write_text('text\na sunny day\n')
    r = subprocess.run(cmd + ['--checkpoint', str(ck), '--input', str(tmp_path/'in.csv'), '--output', str(tmp_path/'o.csv')],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'predictions would be relabelled' in r.stderr and 'Traceback' not in r.stderr

def test_length_batches_refuses_a_batch_of_zero():
    with pytest.raises(ValueError, match='batch_size must be at least 1'): length_batches([3, 4], batch_size=0, max_tokens=None)
    with pytest.raises(ValueError, match='max_tokens must be at least 1'): length_batches([3, 4], batch_size=2, max_tokens=0)

def test_a_stray_fold_number_is_refused():
    df = demo_captions('p3', n=100); df.loc[7, 'fold'] = 6
    with pytest.raises(DataError, match=r"fold 6 has 1 row\(s\) \(row 8, id 'demo-0007'\)"): fixed_folds(df)

def test_ids_the_engine_cannot_join_on():
    df = demo_captions('p3', n=30)
    split = fixed_folds(df)
    spaced = df.assign(id=df.id.where(df.index != 3, ' ' + df.id[3]))
    with pytest.raises(DataError, match=r"row 4: id ' demo-0003' has leading or trailing spaces"): cross_validate(Majority('p3'), spaced, split, progress=False)
    dup = pd.concat([df, df.iloc[[5]]], ignore_index=True)
    with pytest.raises(DataError, match="id 'demo-0005' appears more than once"): cross_validate(Majority('p3'), dup, split, progress=False)
    with pytest.raises(DataError, match='the split names 1 id'): cross_validate(Majority('p3'), df.drop(index=2), split, progress=False)
