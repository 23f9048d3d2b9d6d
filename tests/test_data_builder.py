"""`mllmsent-data` on fixture clones: the folder it builds, each clear error, EmoLLMs' git history, the CLI, and the
real data rebuilt byte for byte from logs written out of `../shared/data`."""
import json, os, re, shutil, subprocess, sys, time
from pathlib import Path
import pandas as pd, pytest
from mllmsent.core import data_dir, sha256_file, get_task
from mllmsent.data import DataError, CAPTION_SOURCES, load_captions, load_instructions, demo_captions
from mllmsent.reported import SOURCE_PREFIXES, REPORTED_FILE, reported_mllmsent
from mllmsent.data_builder import (CAPTION_ROWS, EMOLLMS_SPLIT_ROWS, EMOLLMS_FILES, REPORTED_COLUMNS, build_data, caption_table,
                                   demo_clones, reported_folds, write_test_logs)

ENV = dict(os.environ, OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1')
PREFIX = {s: '' if p is None else f'{p}-' for p, s in SOURCE_PREFIXES.items()}
needs_git = pytest.mark.skipif(shutil.which('git') is None, reason='git is not installed')

@pytest.fixture
def clones(tmp_path):
    "Tiny clones of both repositories (25 captions per experiment, 3 instructions per EmoLLMs file)."
    return demo_clones(tmp_path/'src')

def build(mll, emo, out, **kw):
    return build_data(mll, emo, out, progress=False, **{'check_counts': False, **kw})

def log_path(mll, exp, k): return mll/'experiments-finetuning'/exp/'logs'/f'test_logs_{k:02d}.csv'

def edit_log(path, **changes):
    "Change one cell of a test log: row=i, column=value."
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = changes.pop('row')
    for col, v in changes.items(): df.loc[row, col] = v
    df.to_csv(path, index=False)

def leftovers(folder):
    "Temporary files or folders a build left behind."
    return [p.name for p in Path(folder).rglob('.*') if p.name.endswith('.tmp') or '.old-' in p.name]

# ---------------------------------------------------------------- a synthetic tree, no shared data needed
def test_builds_a_folder_the_loaders_read(clones, tmp_path):
    mll, emo = clones
    write_test_logs(demo_captions('p5', n=25, seed=9), mll/'experiments-finetuning'/'llava-bart-experiment-p5-alpha3')  # a new MLLM
    cap = demo_captions('p3', n=25, seed=4)
    write_test_logs(cap, mll/'experiments-not-finetuning'/'openai-distil-experiment-p3-alpha3', prediction=(cap.label + 1) % 3)
    man = build(mll, emo, tmp_path/'out'/'data')
    data = tmp_path/'out'/'data'
    names = sorted(p.relative_to(data).as_posix() for p in data.rglob('*') if p.is_file())
    want = sorted([f'perceptsent_captions/{s}_{p}_alpha{a}.csv' for s in CAPTION_SOURCES for p, a in CAPTION_ROWS] +
                  ['perceptsent_captions/llava_p5_alpha3.csv', 'manifest.json'] + [f'emollms/{f}' for f in [*EMOLLMS_FILES, *EMOLLMS_SPLIT_ROWS]])
    assert names == want
    for name, entry in man['files'].items():
        assert sha256_file(data/name) == entry['sha256']
        rows = load_captions(data/name) if name.startswith('perceptsent') else load_instructions(data/name)
        assert len(rows) == entry['rows']
    llava = load_captions(data/'perceptsent_captions'/'llava_p5_alpha3.csv')
    assert len(llava) == 25 and sorted(llava.fold.unique()) == [1, 2, 3, 4, 5] and set(llava.label_name) <= set(get_task('p5').labels)
    assert json.loads((data/'manifest.json').read_text()) == man and man['built_by'] == 'mllmsent-data'
    anchors = pd.read_csv(tmp_path/'out'/'anchors'/REPORTED_FILE)
    assert tuple(anchors.columns) == REPORTED_COLUMNS and man['anchors']['rows'] == len(anchors) == 14 * 5
    assert set(anchors.group) == {'experiments-finetuning', 'experiments-not-finetuning'}
    distil = anchors[anchors.experiment == 'openai-distil-experiment-p3-alpha3']
    assert distil.accuracy.tolist() == [0.0] * 5 and distil.n.sum() == 25
    assert (anchors[anchors.group == 'experiments-finetuning'].accuracy == 1.0).all()
    assert leftovers(tmp_path/'out') == []

def test_captions_keep_the_logged_text_exactly(clones, tmp_path):
    mll, emo = clones
    texts = ['  leading spaces', 'a "quoted" word, and a comma', 'two\nlines\n\n', '\u200bzero-width start', 'ünïcödé ✓']
    edits = [dict(row=i, text=t) for i, t in enumerate(texts)]
    for e in edits: edit_log(log_path(mll, 'bart-experiment-p3-alpha3', 1), **e)
    build(mll, emo, tmp_path/'data')
    got = load_captions(tmp_path/'data'/'perceptsent_captions'/'minigpt4_p3_alpha3.csv')
    assert got.text.tolist()[:5] == texts

def test_reported_folds_are_sklearn_rounded(tmp_path):
    from sklearn.metrics import accuracy_score, f1_score
    cap = demo_captions('p5', n=50, seed=3)
    pred = cap.label.where(cap.index % 3 != 0, (cap.label + 2) % 5)
    write_test_logs(cap, tmp_path/'experiments-swin'/'openai-swin-experiment-p5-alpha3', prediction=pred)
    write_test_logs(cap[cap.fold == 1], tmp_path/'experiments-twitter'/'openai-bart-experiment-p2neg-alpha3')  # one fold only
    write_test_logs(cap, tmp_path/'experiments-finetuning'/'bart-experiment-p5-alpha3')
    for p in (tmp_path/'experiments-finetuning'/'bart-experiment-p5-alpha3'/'logs').iterdir():  # logs without predictions count nothing
        pd.read_csv(p, dtype=str).drop(columns='prediction').to_csv(p, index=False)
    rep = reported_folds(tmp_path)
    assert rep[['group', 'fold']].values.tolist() == [['experiments-swin', k] for k in range(1, 6)] + [['experiments-twitter', 1]]
    for k in range(1, 6):
        y, p = cap.label[cap.fold == k], pred[cap.fold == k]
        row = rep.iloc[k - 1]
        assert (row.n, row.accuracy, row.f1_weighted) == (len(y), round(accuracy_score(y, p), 4), round(f1_score(y, p, average='weighted'), 4))

def test_anchors_read_by_reported_mllmsent(clones, tmp_path):
    mll, emo = clones
    build(mll, emo, tmp_path/'data', anchors=tmp_path/'elsewhere'/'rep.csv')
    rep = reported_mllmsent(tmp_path/'elsewhere'/'rep.csv')
    assert len(rep) == 12 and set(rep.source) == set(CAPTION_SOURCES) and (rep.n_folds == 5).all()
    assert not (tmp_path/'anchors').exists()

def test_rebuild_replaces_its_own_folder_only(clones, tmp_path):
    mll, emo = clones
    out = tmp_path/'data'
    build(mll, emo, out)
    (out/'stale.txt').write_text('from an earlier build')
    build(mll, emo, out)
    assert not (out/'stale.txt').exists() and (out/'manifest.json').is_file()
    mine = tmp_path/'mine'; mine.mkdir(); (mine/'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='was not written by mllmsent-data'): build(mll, emo, mine)
    assert (mine/'notes.txt').read_text() == 'keep me'
    with pytest.raises(ValueError, match='inside --out'): build(mll, emo, out, anchors=out/'x.csv')

# ---------------------------------------------------------------- clear errors, and nothing left behind
def fails(mll, emo, out, match, exc=DataError, **kw):
    "The build fails with `match`, leaves `out` and the anchors untouched, and no temporary files."
    before = {p: p.read_bytes() for p in out.parent.rglob('*') if p.is_file()} if out.parent.exists() else {}
    with pytest.raises(exc, match=match): build(mll, emo, out, **kw)
    after = {p: p.read_bytes() for p in out.parent.rglob('*') if p.is_file()} if out.parent.exists() else {}
    assert after == before and leftovers(out.parent) == []

def test_missing_folders_are_named(clones, tmp_path):
    mll, emo = clones
    out = tmp_path/'run'/'data'
    fails(tmp_path/'nowhere', emo, out, r"nowhere: no such folder; expected a clone of https://github.com/neemiasbsilva/MLLMsent-framework", FileNotFoundError)
    fails(mll/'experiments-finetuning', emo, out, r"experiments-finetuning/experiments-finetuning: not found; expected MLLMsent's test logs", FileNotFoundError)
    fails(mll, tmp_path/'nowhere', out, r"nowhere: no such folder; expected a clone of https://github.com/lzw108/EmoLLMs", FileNotFoundError)
    fails(mll, mll, out, r"MLLMsent-framework/data/train.json: not found; expected EmoLLMs' instruction data", FileNotFoundError)
    fails(mll, emo, out, r"emollms-split.*must hold", FileNotFoundError, emollms_split=tmp_path)
    shutil.rmtree(mll/'experiments-finetuning'/'deepseek-bart-experiment-p5-alpha5')
    fails(mll, emo, out, r"deepseek-bart-experiment-p5-alpha5: not found; the data README's deepseek p5 alpha 5 captions come from it",
          FileNotFoundError, check_counts=True)
    shutil.rmtree(emo/'data'/'data-split')
    fails(mll, emo, out, r"data-split/sst5_test.csv: not found, nor in the git history of .*clone its full history.*--emollms-split", FileNotFoundError)

def test_bad_label_is_named(clones, tmp_path):
    mll, emo = clones
    edit_log(log_path(mll, 'openai-bart-experiment-p5-alpha5', 2), row=3, target='5')
    fails(mll, emo, tmp_path/'data', r"openai-bart-experiment-p5-alpha5/logs/test_logs_02.csv: data row 4 \(id '[^']+'\), field 'target' = '5': "
          r"not a label code of task 'p5': expected an integer 0..4")

def test_duplicate_id_across_folds_is_named(clones, tmp_path):
    mll, emo = clones
    first = pd.read_csv(log_path(mll, 'bart-experiment-p3-alpha5', 1), dtype=str).id[0]
    edit_log(log_path(mll, 'bart-experiment-p3-alpha5', 4), row=1, id=first)
    fails(mll, emo, tmp_path/'data', rf"test_logs_04.csv: data row 2, field 'id' = '{first}': already in .*test_logs_01.csv data row 1; each image is in one test fold only")

def test_duplicate_id_within_a_fold_is_named(clones, tmp_path):
    mll, emo = clones
    first = pd.read_csv(log_path(mll, 'bart-experiment-p3-alpha5', 1), dtype=str).id[0]
    edit_log(log_path(mll, 'bart-experiment-p3-alpha5', 1), row=2, id=first)
    fails(mll, emo, tmp_path/'data', rf"test_logs_01.csv: duplicate id '{first}' in data rows \[1, 3\]")

def test_missing_fold_file_is_named(clones, tmp_path):
    mll, emo = clones
    log_path(mll, 'deepseek-bart-experiment-p3-alpha3', 3).unlink()
    fails(mll, emo, tmp_path/'data', r"deepseek-bart-experiment-p3-alpha3/logs/test_logs_03.csv: missing; a caption experiment needs test_logs_01.csv .. test_logs_05.csv")

def test_sizes_are_checked(clones, tmp_path):
    mll, emo = clones
    fails(mll, emo, tmp_path/'data', r"perceptsent_captions/minigpt4_p3_alpha3.csv \(from .*bart-experiment-p3-alpha3\): 25 rows, but the data README gives 4505 \(±1\)",
          check_counts=True)
    for (p, a), n in CAPTION_ROWS.items():   # the README's sizes (deepseek one more) pass; then EmoLLMs' 3-row files stop the build
        cap = demo_captions(p, n=n + 1, seed=a)
        for s in CAPTION_SOURCES: write_test_logs(cap if s == 'deepseek' else cap.iloc[:n], mll/'experiments-finetuning'/f'{PREFIX[s]}bart-experiment-{p}-alpha{a}')
    fails(mll, emo, tmp_path/'data', r"emollms/sst5_test.csv \(from data/data-split/sst5_test.csv\): 3 rows, but the data README gives 2210", check_counts=True)

# ---------------------------------------------------------------- EmoLLMs' evaluation files from the clone's git history
def git(repo, *args):
    return subprocess.run(['git', '-C', str(repo), '-c', 'user.name=t', '-c', 'user.email=t@t', *args],
                          check=True, capture_output=True, text=True).stdout.strip()

@needs_git
def test_emollms_split_from_git_history(clones, tmp_path):
    mll, emo = clones
    git(emo, 'init', '-q'); git(emo, 'add', '-A'); git(emo, 'commit', '-qm', 'with data-split')
    commit = git(emo, 'rev-parse', 'HEAD')
    split = {f: (emo/'data'/'data-split'/f).read_bytes() for f in EMOLLMS_SPLIT_ROWS}
    git(emo, 'rm', '-rq', 'data/data-split'); git(emo, 'commit', '-qm', 'delete data-split')
    assert not (emo/'data'/'data-split').exists()
    man = build(mll, emo, tmp_path/'data', emollms_commit=commit)
    for f, data in split.items():
        assert (tmp_path/'data'/'emollms'/f).read_bytes() == data
        assert man['files'][f'emollms/{f}']['origin'] == f'git show {commit[:7]}:data/data-split/{f}'
    assert man['sources']['emollms']['commit'] == git(emo, 'rev-parse', 'HEAD') and man['sources']['mllmsent']['commit'] is None
    fails(mll, emo, tmp_path/'data', r"not in the git history|nor in the git history", FileNotFoundError, emollms_commit='0' * 40)

# ---------------------------------------------------------------- the console script
def cli(tmp_path, *args):
    "Run `main_data` as a console script does (a file that calls it with no arguments)."
    script = tmp_path/'mllmsent_data.py'
    script.write_text('from mllmsent.data_builder import main_data\nmain_data()\n')
    return subprocess.run([sys.executable, str(script), *map(str, args)], env=ENV, capture_output=True, text=True, timeout=600)

def test_cli_builds_and_reports_errors(clones, tmp_path):
    mll, emo = clones
    r = cli(tmp_path, '--mllmsent', mll, '--emollms', emo, '--out', tmp_path/'data', '--no-check-counts')
    assert r.returncode == 0, r.stderr
    assert 'perceptsent_captions/deepseek_p3_alpha5.csv: 25 rows <- experiments-finetuning/deepseek-bart-experiment-p3-alpha5' in r.stdout
    assert '../anchors/mllmsent_reported_folds.csv: 60 folds of 12 experiments' in r.stdout
    assert (tmp_path/'anchors'/REPORTED_FILE).is_file() and (tmp_path/'data'/'manifest.json').is_file()
    r = cli(tmp_path, '--mllmsent', mll, '--emollms', emo, '--out', tmp_path/'data')   # sizes checked by default
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    assert 'mllmsent-data: perceptsent_captions/minigpt4_p3_alpha3.csv' in r.stderr and 'README gives 4505' in r.stderr

def test_main_data_errors_without_traceback(clones, tmp_path):
    from fastcore.script import CliError
    from mllmsent.data_builder import main_data
    mll, emo = clones
    with pytest.raises(CliError, match='mllmsent-data: .*nowhere: no such folder'): main_data(mllmsent=str(tmp_path/'nowhere'), emollms=str(emo))
    with pytest.raises(CliError, match='give both clones'): main_data(mllmsent=str(mll))
    man = main_data(mllmsent=str(mll), emollms=str(emo), out=str(tmp_path/'d'), check_counts=False, quiet=True)
    assert man['anchors']['path'] == '../anchors/mllmsent_reported_folds.csv' and not man['check_counts']

# ---------------------------------------------------------------- the real data, rebuilt
@pytest.mark.data
def test_readme_sizes_are_the_checked_ones():
    readme = (data_dir()/'README.md').read_text()
    sizes = re.search(r'Sizes: (.*?) rows', readme).group(1)
    assert {(p, int(a)): int(n) for p, a, n in re.findall(r'(p\d) α(\d) (\d+)', sizes)} == CAPTION_ROWS
    assert {f'{f}.csv': int(n) for f, n in re.findall(r'`(\w+)\.csv` \((\d+)', readme)} == EMOLLMS_SPLIT_ROWS

@pytest.mark.data
def test_real_data_rebuilt_byte_for_byte(tmp_path):
    shipped = data_dir()
    mll, emo = tmp_path/'MLLMsent-framework', tmp_path/'EmoLLMs'
    for f in sorted((shipped/'perceptsent_captions').glob('*.csv')):
        source, problem, alpha = re.fullmatch(r'(.+)_(p\d)_alpha(\d)', f.stem).groups()
        write_test_logs(load_captions(f), mll/'experiments-finetuning'/f'{PREFIX[source]}bart-experiment-{problem}-alpha{alpha}')
    (emo/'data'/'data-split').mkdir(parents=True)
    for f in (shipped/'emollms').iterdir(): shutil.copy(f, emo/'data'/('data-split' if f.suffix == '.csv' else '')/f.name)
    t = time.perf_counter()
    man = build_data(mll, emo, tmp_path/'data', progress=False)   # sizes checked
    print(f'\nbuild_data on the full fixture: {time.perf_counter() - t:.1f} s')
    shipped_files = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob('*') if p.is_file() and p.name != 'README.md')
    assert sorted(man['files']) == shipped_files
    for name, entry in man['files'].items():
        assert entry['sha256'] == sha256_file(shipped/name) == sha256_file(tmp_path/'data'/name), name
        if name.startswith('perceptsent'):
            assert load_captions(tmp_path/'data'/name).equals(load_captions(shipped/name)), name
            s, p, a = entry['source'], entry['problem'], entry['alpha']
            assert entry['size_checked'] and entry['rows'] - CAPTION_ROWS[p, a] in ((0, 1) if s == 'deepseek' else (0,))
        elif name.removeprefix('emollms/') in EMOLLMS_SPLIT_ROWS: assert entry['rows'] == EMOLLMS_SPLIT_ROWS[name.removeprefix('emollms/')]
    # fold sizes of the rebuilt anchors are MLLMsent's own (its predictions are not in the shipped captions)
    rebuilt = pd.read_csv(tmp_path/'anchors'/REPORTED_FILE)
    real = pd.read_csv(shipped.parent/'anchors'/REPORTED_FILE)
    keys = ['group', 'experiment', 'fold']
    both = rebuilt.merge(real, on=keys, suffixes=('', '_reported'))
    assert len(both) == len(rebuilt) == 60 and (both.n == both.n_reported).all()
    assert len(reported_mllmsent(tmp_path/'anchors'/REPORTED_FILE)) == 12
