"""Captioning: SIGKILL at random points and resume; bad images (a decompression bomb); resume keyed on prompt and model;
captions joined with a labels file; two accelerate processes; CLI."""
import os, sys, json, random, signal, subprocess, time, shutil, struct, zlib
os.environ.setdefault('OMP_NUM_THREADS', '1')
from pathlib import Path
import pandas as pd, pytest, torch
from PIL import Image
torch.set_num_threads(1)
from mllmsent.vision_models import tiny_llava
from mllmsent.captioning import (caption_images, read_caption_rows, image_table, load_image, merge_caption_files, caption_prompt,
                                 caption_table, load_labels, CAPTION_PROMPTS)
from mllmsent.data import DataError

ENV = dict(os.environ, OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false')

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp('tiny')
    model, processor = tiny_llava()
    model.save_pretrained(d); processor.save_pretrained(d)
    return d, model, processor

def write_images(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True); r = random.Random(seed)
    for i in range(n): Image.new('RGB', (24 + i % 9, 20), tuple(r.randrange(256) for _ in range(3))).save(folder / f'img{i:03d}.png')
    return folder

def cli(model_dir, images, out, *extra):
    return [str(Path(sys.executable).with_name('mllmsent-caption')), str(model_dir), str(images), str(out),
            '--batch-size', '4', '--max-new-tokens', '6', *extra]

def test_sigkill_at_random_points_then_resume(tiny, tmp_path):
    model_dir, N = tiny[0], 240
    images, out = write_images(tmp_path / 'imgs', N), tmp_path / 'caps.jsonl'
    rng, kills, counts = random.Random(1), 0, []
    on_disk = lambda: sum(len(read_caption_rows(f)) for f in tmp_path.glob('caps*.jsonl'))
    for attempt in range(6):
        p = subprocess.Popen(cli(model_dir, images, out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if attempt == 0: time.sleep(rng.uniform(1, 5))          # while importing / loading the model
        else:                                                    # mid-run: as soon as new rows appear, after a short random delay
            start, t0 = on_disk(), time.time()
            while p.poll() is None and on_disk() == start and time.time() - t0 < 60: time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.1))
        if p.poll() is None: p.send_signal(signal.SIGKILL); kills += 1
        p.wait()
        counts.append(on_disk())
        if counts[-1] >= N: break
    print('rows on disk after each kill:', counts)
    r = subprocess.run(cli(model_dir, images, out), env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = read_caption_rows(out)
    ids = [x['id'] for x in rows]
    assert kills >= 3 and sum(0 < n < N for n in counts) >= 2, counts  # killed mid-run more than once
    assert sorted(ids) == [f'img{i:03d}' for i in range(N)]            # every image exactly once
    assert all(x['error'] is None and isinstance(x['caption'], str) for x in rows)
    assert list(tmp_path.glob('caps.part*')) == []                     # shards merged away
    assert out.read_text().endswith('\n')

def test_cli_errors_end_with_a_message(tiny, tmp_path):
    "A missing image folder: one line naming it and exit code 1, no traceback; a bad --bits is refused by the parser (2)."
    r = subprocess.run(cli(tiny[0], tmp_path / 'nowhere', tmp_path / 'c.jsonl'), env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and 'mllmsent-caption: ' in r.stderr and 'nowhere: no such folder of images' in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr and not (tmp_path / 'c.jsonl').exists()
    r = subprocess.run(cli(tiny[0], tmp_path, tmp_path / 'c.jsonl', '--bits', '5'), env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and 'argument --bits: invalid choice: 5' in r.stderr

def test_torn_last_line_is_cut_and_not_doubled(tiny, tmp_path):
    _, model, processor = tiny
    images = write_images(tmp_path / 'imgs', 6)
    out = tmp_path / 'c.jsonl'
    caption_images(model, processor, images, out, batch_size=2, max_new_tokens=3, progress=False)
    text = out.read_text()
    lines = text.splitlines(keepends=True)
    out.write_text(''.join(lines[:3]) + lines[3][:17])   # as if killed while writing the 4th row
    assert len(read_caption_rows(out)) == 3
    res = caption_images(model, processor, images, out, batch_size=2, max_new_tokens=3, progress=False)
    assert sorted(res.id) == sorted(f'img{i:03d}' for i in range(6))
    assert all(json.loads(l) for l in out.read_text().splitlines())

def test_damaged_middle_line_is_an_error(tmp_path):
    f = tmp_path / 'c.jsonl'
    f.write_text('{"id": "a", "prompt_id": "detailed"}\nGARBAGE\n{"id": "b", "prompt_id": "detailed"}\n')
    with pytest.raises(ValueError, match='line 2 is not JSON'): read_caption_rows(f)

def test_bad_images_are_recorded_and_nothing_is_lost(tiny, tmp_path):
    _, model, processor = tiny
    d = write_images(tmp_path / 'imgs', 3)
    Image.new('L', (20, 20), 90).save(d / 'gray.png')
    Image.new('RGBA', (20, 20), (255, 0, 0, 0)).save(d / 'alpha.png')
    Image.new('P', (20, 20)).save(d / 'palette.gif')
    Image.new('CMYK', (20, 20), (0, 50, 50, 0)).save(d / 'cmyk.jpg')
    good = d / 'img000.png'
    jpg = d / 'trunc.jpg'; Image.new('RGB', (64, 64), 'blue').save(jpg); jpg.write_bytes(jpg.read_bytes()[:200])
    (d / 'text.jpg').write_text('this is not an image')
    (d / 'empty.png').write_bytes(b'')
    paths = sorted(str(p) for p in d.iterdir()) + [str(d / 'missing.jpg')]
    res = caption_images(model, processor, paths, tmp_path / 'o.jsonl', batch_size=4, max_new_tokens=3, progress=False).set_index('id')
    assert len(res) == len(paths)
    errors = res.error.dropna()
    assert set(errors.index) == {'trunc', 'text', 'empty', 'missing'}
    assert 'missing.jpg: image file not found' in errors['missing']
    assert 'trunc.jpg: not a readable image' in errors['trunc']
    for ok in ('gray', 'alpha', 'palette', 'cmyk', 'img000'): assert isinstance(res.caption[ok], str)
    assert load_image(d / 'alpha.png').getpixel((0, 0)) == (255, 255, 255)
    assert load_image(d / 'gray.png').mode == 'RGB'

def test_duplicate_ids_and_missing_folder(tmp_path):
    d = write_images(tmp_path / 'i', 1)
    Image.new('RGB', (8, 8)).save(d / 'img000.jpg')
    with pytest.raises(ValueError, match="'img000' appears more than once"): image_table(d)
    with pytest.raises(FileNotFoundError, match='no such folder'): image_table(tmp_path / 'nope')

def test_merge_keeps_one_row_per_image(tmp_path):
    a, b, out = tmp_path / 'o.part0.jsonl', tmp_path / 'o.part1.jsonl', tmp_path / 'o.jsonl'
    row = lambda i: json.dumps(dict(id=i, prompt_id='detailed', caption='x')) + '\n'
    out.write_text(row('1')); a.write_text(row('1') + row('2')); b.write_text(row('3') + '{"id": "4", "prom')
    res = merge_caption_files(out, [a, b])
    assert sorted(res.id) == ['1', '2', '3'] and not a.exists() and not b.exists()

@pytest.mark.skipif(shutil.which('accelerate') is None, reason='accelerate CLI not installed')
def test_two_processes_with_accelerate(tiny, tmp_path):
    images, out = write_images(tmp_path / 'imgs', 10), tmp_path / 'caps.jsonl'
    cmd = ['accelerate', 'launch', '--cpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', str(29500 + os.getpid() % 1000), shutil.which('mllmsent-caption'),
           str(tiny[0]), str(images), str(out), '--batch-size', '2', '--max-new-tokens', '3']
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = read_caption_rows(out)
    assert sorted(x['id'] for x in rows) == [f'img{i:03d}' for i in range(10)]
    assert list(tmp_path.glob('caps.part*')) == []

def write_bomb(path, side=20000):
    "A valid one-bit PNG of side x side pixels (60 kB on disk, 400 megapixels when decoded)."
    chunk = lambda kind, data: struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', side, side, 1, 0, 0, 0, 0))
                     + chunk(b'IDAT', zlib.compress(bytes(side * (side // 8 + 1)))) + chunk(b'IEND', b''))
    return path

def test_decompression_bomb_is_recorded_and_the_run_goes_on(tiny, tmp_path):
    "A 20000 x 20000 image used to end every rerun at the same batch; now it is a failed row with its reason."
    _, model, processor = tiny
    d = write_images(tmp_path / 'imgs', 6)
    write_bomb(d / 'img002b.png')                       # sorted into the middle of the folder
    out = tmp_path / 'c.jsonl'
    res = caption_images(model, processor, d, out, batch_size=2, max_new_tokens=3, progress=False).set_index('id')
    assert len(res) == 7 and res.caption.notna().sum() == 6
    err = res.error['img002b']
    assert 'img002b.png: too large to decode safely' in err and '400000000 pixels' in err and 'MAX_IMAGE_PIXELS' in err
    again = caption_images(model, processor, d, out, batch_size=2, max_new_tokens=3, progress=False)   # the rerun goes through
    assert len(again) == 7

def test_resume_is_keyed_on_prompt_text_and_model(tiny, tmp_path):
    "A rerun into the same file with another prompt or model used to caption nothing (every custom prompt was 'custom')."
    _, model, processor = tiny
    d, out = write_images(tmp_path / 'imgs', 4), tmp_path / 'c.jsonl'
    cap = lambda prompt, name: caption_images(model, processor, d, out, prompt=prompt, batch_size=4, max_new_tokens=3,
                                              model_name=name, progress=False)
    assert len(cap('What colour is this?', 'm1')) == 4
    assert len(cap('Describe the mood.', 'm1')) == 8                        # another custom prompt: captioned again
    assert len(cap('What colour is this?', 'm2')) == 12                     # another model: captioned again
    assert len(cap('What colour is this?', 'm1')) == 12                     # same prompt and model: nothing new
    assert len(cap('detailed', 'm1')) == 16
    rows = read_caption_rows(out)
    assert {r['prompt_id'] for r in rows} == {caption_prompt('What colour is this?')[0], caption_prompt('Describe the mood.')[0], 'detailed'}
    assert all(r['prompt'] for r in rows)
    # a file written before rows kept their prompt text: its named prompts still resume, its 'custom' rows cannot be matched
    old = tmp_path / 'old.jsonl'
    old.write_text(''.join(json.dumps(dict(id=f'img{i:03d}', prompt_id=p, caption='x', model='m1', error=None)) + '\n'
                           for i in range(4) for p in ('detailed', 'custom')))
    assert len(caption_images(model, processor, d, old, prompt='detailed', model_name='m1', max_new_tokens=3, progress=False)) == 8
    assert len(caption_images(model, processor, d, old, prompt='Describe.', model_name='m1', max_new_tokens=3, progress=False)) == 12

def test_captions_joined_with_labels_and_ids_on_one_side(tiny, tmp_path):
    _, model, processor = tiny
    d, out = write_images(tmp_path / 'imgs', 5), tmp_path / 'c.jsonl'
    (d / 'broken.png').write_bytes(b'not a png')
    caption_images(model, processor, d, out, batch_size=4, max_new_tokens=3, model_name='m', progress=False)
    ids = [f'img{i:03d}' for i in range(5)]
    lab = tmp_path / 'labels.csv'
    lab.write_text('id,label\n' + ''.join(f'{i},{l}\n' for i, l in zip(ids, ['positive', 0, '2', 'Neutral', 'negative'])) + 'broken,1\n')
    labels = load_labels(lab, 'mvsa')
    assert labels.label.tolist() == [2, 0, 2, 1, 0, 1]
    rows = caption_table(out, labels, model='m')
    assert sorted(rows.id) == ids and list(rows.columns) == ['id', 'text', 'label', 'image_path']
    assert list(rows.attrs['failed']) == ['broken'] and 'not a readable image' in rows.attrs['failed']['broken']
    lab.write_text('id,label\n' + ''.join(f'{i},positive\n' for i in ids[1:]) + 'broken,1\nimg999,0\n')
    with pytest.raises(DataError, match=r"1 captioned image\(s\) have no label in .*labels.csv, e.g. ids \['img000'\]"):
        caption_table(out, load_labels(lab, 'mvsa'), model='m')
    lab.write_text('id,label\n' + ''.join(f'{i},positive\n' for i in ids) + 'broken,1\nimg999,0\n')
    with pytest.raises(DataError, match=r"1 id\(s\) of .*labels.csv have no caption for prompt 'detailed'.*\['img999'\]: no such image"):
        caption_table(out, load_labels(lab, 'mvsa'), model='m')
    with pytest.raises(ValueError, match=r"no captions for prompt 'scene' by model 'm'"):
        caption_table(out, labels, prompt='scene', model='m')
    caption_images(model, processor, d, out, max_new_tokens=3, model_name='other', progress=False)
    with pytest.raises(ValueError, match=r"captioned by several models \['m', 'other'\]; pass model="):
        caption_table(out, labels)

@pytest.mark.parametrize('text, message', [
    ('id,label\n1,positive\n2,happy\n', "data row 2 (id '2'): label 'happy' is not one of ['negative', 'neutral', 'positive'] nor a code 0..2"),
    ('id,label\n1,positive\n2,3\n', "data row 2 (id '2'): label '3' is not one of"),
    ('id,label\n1,positive\n1,negative\n', "data row 2: id '1' appears more than once"),
    ('id,sentiment\n1,positive\n', "missing column(s) ['label']"),
    ('id,label\n,positive\n', 'data row 1: empty id'),
])
def test_bad_labels_files_are_named(tmp_path, text, message):
    f = tmp_path / 'labels.csv'; f.write_text(text)
    with pytest.raises(DataError) as e: load_labels(f, 'mvsa')
    assert str(f) in str(e.value) and message in str(e.value), str(e.value)
