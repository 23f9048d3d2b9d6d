"mllmsent-predict: predictions, --list, and every bad input ending with a clear message and exit code 2."
import os, subprocess, sys, shutil
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import pandas as pd, pytest, torch
from mllmsent.cli import main_predict
from mllmsent.encoders import tiny_encoder
from mllmsent.finetune import finetune
from mllmsent.checkpoints import save_checkpoint
from mllmsent.data import demo_captions

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def ckdir(tmp_path_factory):
    root = tmp_path_factory.mktemp('cli')
    df = demo_captions('p3', n=24)
    tiny = tiny_encoder('distil-bert', root/'tiny', labels=('neutral', 'negative', 'positive'), corpus=df.text)
    m, tok, s = finetune(df[:16], df[16:20], 'p3', str(tiny), max_steps=1, eval_steps=1, batch_size=8, max_len=32)
    save_checkpoint(root/'checkpoints'/'distil-p3', 'p3', str(tiny), model=m, tokenizer=tok, max_len=32, training=s)
    return root

def run(capsys, **kw):
    "`main_predict` called from Python with keywords: the exit code, stdout and stderr."
    code = main_predict(**kw)
    out = capsys.readouterr()
    return code, out.out, out.err

def test_predicts_and_lists(ckdir, tmp_path, capsys):
    pd.DataFrame({'id': [1, 2, 3], 'caption': ['a happy dog', 'a sad street', 'x, "quoted", ünïcode']}).to_csv(tmp_path/'in.csv', index=False)
    ck = ckdir/'checkpoints'/'distil-p3'
    code, out, err = run(capsys, checkpoint=ck, input=tmp_path/'in.csv', output=tmp_path/'o.csv', text_column='caption',
                         batch_size=2, max_len=16)
    assert code == 0, err
    res = pd.read_csv(tmp_path/'o.csv')
    assert list(res.columns) == ['id', 'caption', 'prediction', 'prob_neutral', 'prob_negative', 'prob_positive']
    assert set(res.prediction) <= {'neutral', 'negative', 'positive'}
    assert ((res.filter(like='prob_').sum(1) - 1).abs() < 1e-4).all()
    assert res.caption[2] == 'x, "quoted", ünïcode'
    code, out, err = run(capsys, list=True, checkpoint_dir=ckdir/'checkpoints')
    assert code == 0 and 'distil-p3' in out and 'finetune' in out and 'p3' in out

def test_refuses_to_overwrite(ckdir, tmp_path, capsys):
    pd.DataFrame({'text': ['a dog']}).to_csv(tmp_path/'in.csv', index=False)
    (tmp_path/'o.csv').write_text('keep me')
    args = dict(checkpoint=ckdir/'checkpoints'/'distil-p3', input=tmp_path/'in.csv', output=tmp_path/'o.csv')
    code, out, err = run(capsys, **args)
    assert code == 2 and 'pass --overwrite' in err and (tmp_path/'o.csv').read_text() == 'keep me'
    code, out, err = run(capsys, **args, overwrite=True)
    assert code == 0 and 'prediction' in (tmp_path/'o.csv').read_text()

@pytest.mark.parametrize('content,expect', [
    (b'id,caption\n1,a dog\n', ["has no column 'text'", "['id', 'caption']", 'in.csv']),
    (b'id,text\n1,a dog\n2,\n3,   \n4,a cat\n', ['2 row(s) have an empty', 'data row(s) 2, 3']),
    ('id,text\n1,caf\u00e9\n'.encode('latin-1'), ['is not UTF-8', 'in.csv']),
])
def test_bad_input(ckdir, tmp_path, capsys, content, expect):
    (tmp_path/'in.csv').write_bytes(content)
    code, out, err = run(capsys, checkpoint=ckdir/'checkpoints'/'distil-p3', input=tmp_path/'in.csv', output=tmp_path/'o.csv')
    assert code == 2
    for e in expect: assert e in err, err
    assert not (tmp_path/'o.csv').exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith('.tmp')]

def test_bad_options(ckdir, tmp_path, capsys):
    code, out, err = run(capsys, checkpoint=ckdir/'checkpoints'/'distil-p3')
    assert code == 2 and '--input' in err and '--output' in err
    (tmp_path/'in.csv').write_text('text\na\n')
    code, out, err = run(capsys, checkpoint=tmp_path, input=tmp_path/'in.csv', output=tmp_path/'o.csv')
    assert code == 2 and 'not an mllmsent checkpoint' in err
    code, out, err = run(capsys, list=True, checkpoint_dir=tmp_path/'nowhere')
    assert code == 2 and 'does not exist' in err
    code, out, err = run(capsys, checkpoint=ckdir/'checkpoints'/'distil-p3', input=tmp_path/'missing.csv', output=tmp_path/'o.csv')
    assert code == 2 and 'missing.csv does not exist' in err

def test_console_script_installed(ckdir, tmp_path):
    "The command line: flags spelled as `--help` lists them, exit codes 0 and 2, no traceback."
    exe = shutil.which('mllmsent-predict') or os.path.join(os.path.dirname(sys.executable), 'mllmsent-predict')
    r = subprocess.run([exe, '--list', '--checkpoint-dir', str(ckdir/'checkpoints')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and 'distil-p3' in r.stdout
    (tmp_path/'in.csv').write_text('caption\nx\n')
    r = subprocess.run([exe, '--checkpoint', str(ckdir/'checkpoints'/'distil-p3'), '--input', str(tmp_path/'in.csv'),
                        '--output', str(tmp_path/'o.csv')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "has no column 'text'" in r.stderr and '--text-column' in r.stderr and 'Traceback' not in r.stderr
    r = subprocess.run([exe, '--checkpoint', str(ckdir/'checkpoints'/'distil-p3'), '--input', str(tmp_path/'in.csv'), '--output',
                        str(tmp_path/'o.csv'), '--text-column', 'caption', '--batch-size', '1', '--max-len', '8'],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and 'wrote 1 predictions' in r.stdout, r.stderr
    r = subprocess.run([exe, '--list', '--batch-size', 'many'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "argument --batch-size: invalid int value: 'many'" in r.stderr
