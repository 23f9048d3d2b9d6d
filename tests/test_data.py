"Edge cases of the data loaders (bad files, encodings, MVSA folders, instruction files) that read badly as a docs page."
import json, shutil, warnings
import numpy as np, pandas as pd, pytest
from pathlib import Path
from PIL import Image
from mllmsent.core import data_dir, get_task
from mllmsent.data import (DataError, CAPTION_SOURCES, caption_file, caption_sources, load_captions, load_caption_set,
                           load_mllmsent_log, load_caption_logs, load_caption_input, perceptsent_labels, load_mvsa, mvsa_label,
                           load_instructions, instruction_tasks, demo_captions, demo_images)

DATA = data_dir()
needs_data = pytest.mark.data
GOOD = 'id,text,label,label_name,fold\na1,a sunny park,2,positive,1\na2,a grey wall,0,neutral,2\na3,a ruined house,1,negative,1\n'

def write(tmp_path, text, name='x_p3_alpha3.csv', encoding='utf-8'):
    p = tmp_path/name; p.write_bytes(text.encode(encoding)); return p

# ---------------------------------------------------------------- caption CSVs
@needs_data
@pytest.mark.parametrize('problem,alpha,n', [('p3', 3, 4505), ('p3', 5, 1679), ('p5', 3, 3565), ('p5', 5, 445)])
@pytest.mark.parametrize('source', CAPTION_SOURCES)
def test_real_caption_files(source, problem, alpha, n):
    df = load_caption_set(source, problem, alpha)
    assert len(df) - n in ((0, 1) if source == 'deepseek' else (0,))
    task = get_task(problem)
    assert list(df.columns) == ['id', 'text', 'label', 'label_name', 'fold']
    assert set(df.label_name) == set(task.labels)
    assert (df.label_name == [task.labels[c] for c in df.label]).all()
    assert df.id.map(type).eq(str).all() and df.label.dtype == 'int64' and sorted(df.fold.unique()) == [1, 2, 3, 4, 5]
    assert df.attrs['task'] == problem and df.attrs['source'] == source

@needs_data
def test_sources_share_ids():
    a, b = (load_caption_set(s, 'p3', 5) for s in ('minigpt4', 'gpt4o-mini'))
    assert set(a.id) == set(b.id)
    assert (a.set_index('id').label == b.set_index('id').label.reindex(a.id).values).all()

def test_good_file_and_string_ids(tmp_path):
    df = load_captions(write(tmp_path, GOOD.replace('a1,', '0012,')))
    assert df.id.tolist() == ['0012', 'a2', 'a3'] and df.label.tolist() == [2, 0, 1] and df.fold.tolist() == [1, 2, 1]
    assert df.attrs['task'] == 'p3'

@pytest.mark.parametrize('edit,msg', [
    (lambda s: s.replace(',fold', ',folds'), "missing column(s) ['fold']"),
    (lambda s: s.replace('a grey wall', '  '), "data row 2 (id 'a2'), field 'text'"),
    (lambda s: s.replace('a1,a sunny park,2', 'a1,a sunny park,'), "data row 1 (id 'a1'), field 'label' = ''"),
    (lambda s: s.replace(',0,neutral', ',7,neutral'), "data row 2 (id 'a2'), field 'label' = '7'"),
    (lambda s: s.replace(',0,neutral', ',0.5,neutral'), "field 'label' = '0.5'"),
    (lambda s: s.replace(',1,negative', ',1,sad'), "field 'label_name' = 'sad': unknown label name"),
    (lambda s: s.replace(',1,negative', ',1,positive'), "data row 3 (id 'a3'), field 'label_name' = 'positive': does not match label 1"),
    (lambda s: s.replace('a3,', 'a1,'), "duplicate id 'a1' in data rows [1, 3]"),
    (lambda s: s.replace('positive,1\n', 'positive,0\n'), "data row 1 (id 'a1'), field 'fold' = '0'"),
    (lambda s: s.replace('neutral,2', 'neutral,two'), "field 'fold' = 'two'"),
    (lambda s: s.replace('neutral,2', 'neutral,3'), "folds [2] are missing"),
    (lambda s: s.replace('a2,', ','), "data row 2 (id ''), field 'id'"),
])
def test_bad_caption_rows(tmp_path, edit, msg):
    p = write(tmp_path, edit(GOOD))
    with pytest.raises(DataError) as e: load_captions(p)
    assert msg in str(e.value) and str(p) in str(e.value)

def test_non_utf8_caption_file(tmp_path):
    p = write(tmp_path, GOOD.replace('ruined', 'ruiné'), encoding='cp1252')
    with pytest.raises(DataError) as e: load_captions(p)
    assert str(p) in str(e.value) and f"byte {GOOD.index('ruined') + 4}" in str(e.value) and 'line 4' in str(e.value)

def test_problem_from_name_or_argument(tmp_path):
    p = write(tmp_path, GOOD, name='captions.csv')
    with pytest.raises(DataError, match="pass problem="): load_captions(p)
    assert len(load_captions(p, problem='P3')) == 3
    with pytest.raises(DataError, match="does not match label 2, which is 'neutral' in task 'p5'"): load_captions(p, problem='p5')

def test_caption_file_arguments(tmp_path):
    with pytest.raises(ValueError, match='must be a name'): caption_file('a/b', 'p3', 3, tmp_path)
    with pytest.raises(ValueError, match="PerceptSent problems"): caption_file('minigpt4', 'sst5', 3, tmp_path)
    with pytest.raises(ValueError, match='alpha must be an integer 1..5'): caption_file('minigpt4', 'p3', 6, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"caption file not found for source 'minigpt4'.*: none"): caption_file('minigpt4', 'p3', 3, tmp_path)
    (tmp_path/'minigpt4_p3_alpha3.csv').write_text(GOOD)   # `data` may be the captions folder itself
    assert len(load_caption_set('minigpt4', 'p3', 3, data=tmp_path)) == 3

# ---------------------------------------------------------------- captions from any MLLM (issue 13)
def test_any_source_name_with_a_file(tmp_path):
    "A source the package has never seen is any `{source}_{problem}_alpha{a}.csv`; a wrong name lists the sources found."
    (tmp_path/'perceptsent_captions').mkdir()
    for name in ('minigpt4_p3_alpha3.csv', 'my-mllm_p3_alpha3.csv', 'llava-1.6_p3_alpha3.csv', 'other_p5_alpha3.csv'):
        (tmp_path/'perceptsent_captions'/name).write_text(GOOD)
    assert caption_sources('p3', 3, tmp_path) == ['llava-1.6', 'minigpt4', 'my-mllm']
    df = load_caption_set('my-mllm', 'p3', 3, data=tmp_path)
    assert len(df) == 3 and df.attrs['source'] == 'my-mllm'
    with pytest.raises(FileNotFoundError) as e: load_caption_input('my-mlm', 'p3', 3, data=tmp_path)
    assert "source 'my-mlm'" in str(e.value) and "['llava-1.6', 'minigpt4', 'my-mllm']" in str(e.value) and 'p3 alpha3' in str(e.value)

@needs_data
def test_caption_csv_copied_to_a_new_name(tmp_path):
    "Must show: a shipped caption CSV copied to `my-mllm_p3_alpha3.csv` loads unchanged, by name and by path."
    orig = load_caption_set('gpt4o-mini', 'p3', 3)
    shutil.copy(caption_file('gpt4o-mini', 'p3', 3), tmp_path/'my-mllm_p3_alpha3.csv')
    by_name = load_caption_input('my-mllm', 'p3', 3, data=tmp_path)
    by_path = load_caption_input('ignored', 'p3', 3, captions=tmp_path/'my-mllm_p3_alpha3.csv')
    for df in (by_name, by_path):
        pd.testing.assert_frame_equal(df, orig)
        assert df.attrs['source'] == 'my-mllm' and df.attrs['alpha'] == 3
    with pytest.raises(DataError, match="file name says problem 'p3' but problem='p5'"): load_caption_input('x', 'p5', captions=tmp_path/'my-mllm_p3_alpha3.csv')
    with pytest.raises(FileNotFoundError, match="no such caption CSV or folder"): load_caption_input('x', 'p3', captions=tmp_path/'nope.csv')

def write_logs(folder, df, index=True, prediction=True):
    "MLLMsent's per-fold logs of a caption table: test_logs_0{k}.csv with id,text,target[,prediction] (and a written index)."
    folder.mkdir(parents=True, exist_ok=True)
    for k, g in df.groupby('fold'):
        cols = ['id', 'text', 'target'] + (['prediction'] if prediction else [])
        g.rename(columns={'label': 'target'}).assign(prediction=lambda d: d.target[::-1].to_numpy())[cols].to_csv(folder/f'test_logs_0{k}.csv', index=index)
    return folder

@needs_data
def test_raw_mllmsent_logs_folder(tmp_path):
    "Must show: a folder of MLLMsent's raw per-fold logs loads as it is: the same rows, labels and folds as the caption CSV."
    orig = load_caption_set('deepseek', 'p5', 5)
    logs = write_logs(tmp_path/'deepseek-bart-experiment-p5-alpha5'/'logs', orig)
    for where in (logs, logs.parent):   # the logs folder, or the experiment folder holding logs/
        df = load_caption_input('ignored', 'p5', 5, captions=where)
        pd.testing.assert_frame_equal(df.sort_values('id', ignore_index=True), orig.sort_values('id', ignore_index=True))
        assert df.attrs['source'] == 'deepseek-bart-experiment-p5-alpha5' and df.attrs['task'] == 'p5'
    assert load_caption_logs(logs).fold.value_counts().sort_index().tolist() == orig.fold.value_counts().sort_index().tolist()

def test_caption_csv_without_label_names(tmp_path):
    "Another MLLM's captions may leave out label_name: it is read from the codes."
    p = write(tmp_path, 'id,text,label,fold\na1,a sunny park,2,1\na2,a grey wall,0,2\n', name='my-mllm_p3_alpha3.csv')
    df = load_caption_input('x', 'p3', captions=p)
    assert df.label_name.tolist() == ['positive', 'neutral'] and list(df.columns) == ['id', 'text', 'label', 'label_name', 'fold']

def test_raw_logs_without_index_or_prediction(tmp_path):
    logs = write_logs(tmp_path/'run-p3'/'logs', demo_captions('p3', n=30), index=False, prediction=False)
    df = load_caption_logs(logs)
    assert len(df) == 30 and list(df.columns) == ['id', 'text', 'label', 'label_name', 'fold'] and sorted(df.fold.unique()) == [1, 2, 3, 4, 5]

def test_bad_raw_log_folders(tmp_path):
    demo = demo_captions('p3', n=30)
    logs = write_logs(tmp_path/'a'/'logs', demo)
    with pytest.raises(DataError, match="cannot tell the problem from the folder's name; pass problem="): load_caption_logs(logs)
    (logs/'test_logs_03.csv').unlink()
    with pytest.raises(DataError, match=r"no log for fold\(s\) \[3\]"): load_caption_logs(logs, 'p3')
    write_logs(logs, demo)
    (logs/'test_log_1.csv').write_text((logs/'test_logs_01.csv').read_text())
    with pytest.raises(DataError, match=r"two logs for fold 1: \['test_log_1.csv', 'test_logs_01.csv'\]|two logs for fold 1: \['test_logs_01.csv', 'test_log_1.csv'\]"): load_caption_logs(logs, 'p3')
    (logs/'test_log_1.csv').unlink()
    (logs/'test_logs_02.csv').write_text((logs/'test_logs_02.csv').read_text() + (logs/'test_logs_01.csv').read_text().split('\n', 2)[1] + '\n')
    with pytest.raises(DataError, match=r"id 'demo-\d+' is in the logs of folds \[1, 2\]"): load_caption_logs(logs, 'p3')
    empty = tmp_path/'empty-p3'; empty.mkdir(); (empty/'notes.txt').write_text('x')
    with pytest.raises(FileNotFoundError, match=r"no per-fold logs named test_logs_0<k>.csv; the folder holds \['notes.txt'\]"): load_caption_logs(empty)

def test_grid_over_sources_with_a_new_name(tmp_path):
    "Must show: a grid whose source list has a name the package has never seen passes the spec check and loads every cell."
    from mllmsent.experiments import load_grid
    from mllmsent.specs import CaptionClassification
    for s in ('minigpt4', 'my-mllm'): write(tmp_path, GOOD, name=f'{s}_p3_alpha3.csv')
    (tmp_path/'grid.yaml').write_text('grid:\n  source: [minigpt4, my-mllm]\nfixed:\n  problem: p3\n  alpha: 3\n')
    g, fixed = load_grid(tmp_path/'grid.yaml')
    for source in g['source']:
        spec = CaptionClassification.parse({**fixed, 'source': source, 'data_dir': str(tmp_path)}, where=f'grid (run {source})')
        df = load_caption_input(spec.source, spec.problem, spec.alpha, captions=spec.captions, data=spec.data_dir)
        assert len(df) == 3 and df.attrs['source'] == source

@needs_data
def test_vader_table_over_a_source_list_with_a_new_name(tmp_path):
    "The VADER experiment over sources [minigpt4, my-mllm] (a copy under a new name): one table row per source, equal numbers."
    from mllmsent.experiments import run_experiment
    nb = Path(__file__).resolve().parents[1]/'nbs'/'experiments'/'vader_captions.ipynb'
    for s in ('minigpt4', 'my-mllm'): shutil.copy(caption_file('minigpt4', 'p5', 5), tmp_path/f'{s}_p5_alpha5.csv')
    res = run_experiment(nb, {'sources': ['minigpt4', 'my-mllm'], 'problems': ['p5'], 'alphas': [5], 'data_dir': str(tmp_path)}, tmp_path/'run')
    rows = pd.DataFrame(res['per_fold'])
    assert rows.source.tolist() == ['minigpt4', 'my-mllm'] and rows.accuracy.nunique() == 1

# ---------------------------------------------------------------- bad input (issue 12)
def test_header_only_caption_files(tmp_path):
    "A header and no rows is an error that names the file and the columns expected (not `cannot convert float NaN to integer`)."
    p = write(tmp_path, 'id,text,label,label_name,fold\n')
    with pytest.raises(DataError, match=r"x_p3_alpha3.csv: no data rows \(only the header .*expected one row per item with columns \['id', 'text', 'label', 'label_name', 'fold'\]"):
        load_captions(p)
    p = write(tmp_path, 'id,text,target,prediction\n', name='test_logs_01.csv')
    with pytest.raises(DataError, match='test_logs_01.csv: no data rows'): load_mllmsent_log(p, 'p3')
    p = write(tmp_path, 'Instruction,Answer\n', name='mine.csv')
    with pytest.raises(DataError, match='mine.csv: no data rows'): load_instructions(p)
    (tmp_path/'empty.json').write_text('\n\n')
    with pytest.raises(DataError, match='empty.json: no records'): load_instructions(tmp_path/'empty.json')

@pytest.mark.parametrize('ids,row', [((' a1', 'a2', 'a3'), 1), (('a1', 'a2 ', 'a3'), 2), (('a1', 'a2', 'a1\t'), 3)])
def test_spaced_ids_are_an_error(tmp_path, ids, row):
    "Decision: an id with leading or trailing spaces is an error naming its row (' a1' and 'a1' would otherwise be two ids)."
    text = GOOD
    for old, new in zip(('a1,', 'a2,', 'a3,'), ids): text = text.replace(old, f'"{new}",', 1)
    with pytest.raises(DataError) as e: load_captions(write(tmp_path, text))
    assert f"data row {row} (id {ids[row-1]!r}), field 'id'" in str(e.value) and f"write it as {ids[row-1].strip()!r}" in str(e.value)

def test_mllmsent_log(tmp_path):
    p = write(tmp_path, ',id,text,target,prediction\n0,x1,a,0,2\n1,x2,b,4,4\n', name='test_logs_03.csv')
    df = load_mllmsent_log(p, 'p5')
    assert df.label_name.tolist() == ['negative', 'positive'] and df.prediction_name.tolist() == ['neutral', 'positive']
    assert df.fold.tolist() == [3, 3] and 'Unnamed: 0' not in df.columns
    p = write(tmp_path, 'id,text,target\nx1,a,5\n', name='log.csv')
    with pytest.raises(DataError, match="data row 1 \\(id 'x1'\\), field 'target' = '5'"): load_mllmsent_log(p, 'p5')

# ---------------------------------------------------------------- PerceptSent votes
@pytest.mark.parametrize('votes,problem,alpha,expected', [
    (['positive'] * 5, 'p5', 5, 'positive'),
    (['positive'] * 4 + ['slightly positive'], 'p5', 5, None),
    (['positive'] * 4 + ['slightly positive'], 'p3', 5, 'positive'),
    ([2, 1, 1, 2, 0], 'p3', 5, None),
    ([2, 1, 1, 2, 0], 'p3', 3, 'positive'),
    ([2, 1, 1, 2, 0], 'p5', 3, None),
    ([-1, -1, -1, 0, 2], 'p5', 3, 'slightly negative'),
    ([-1, -2, 0, 0, 0], 'p3', 3, 'neutral'),
    ([-1, -2, 0, 0, 1], 'p3', 3, None),
    ([-1, -2, 0, 0, 1], 'p2neg', 3, 'non-negative'),
    ([-1, -2, -2, 0, 1], 'P2-', 3, 'negative'),
    ([1, 2, 0, 0, -1], 'p2plus', 3, 'non-positive'),
    ([1, 2, 2, 0, -1], 'P2+', 3, 'positive'),
    (['Slightly_Negative', 'slightly  negative', '-1', -1, 'neutral'], 'p5', 4, 'slightly negative'),
    (['negative', 'negative', 'positive', 'positive', 'neutral'], 'p3', 2, None),  # a tie is no agreement
])
def test_perceptsent_labels(votes, problem, alpha, expected):
    assert perceptsent_labels(votes, problem, alpha) == expected

def test_perceptsent_label_errors():
    with pytest.raises(DataError, match="vote 3 = 3"): perceptsent_labels([0, 0, 3, 0, 0], 'p3')
    with pytest.raises(DataError, match="vote 1 = 'happy'"): perceptsent_labels(['happy'] * 5, 'p3')
    with pytest.raises(ValueError, match='alpha=6'): perceptsent_labels([0] * 5, 'p3', 6)
    with pytest.raises(ValueError, match='not a PerceptSent problem'): perceptsent_labels([0] * 5, 'sst5')

# ---------------------------------------------------------------- demo data
@pytest.mark.parametrize('problem', ['p3', 'p5', 'p2plus', 'p2neg'])
def test_demo_captions_shape(problem):
    df = demo_captions(problem, n=100, seed=3)
    task = get_task(problem)
    assert list(df.columns) == ['id', 'text', 'label', 'label_name', 'fold'] and df.id.is_unique
    counts = df.label.value_counts()
    assert counts.max() - counts.min() <= 1 and len(counts) == task.n_labels
    assert sorted(df.fold.unique()) == [1, 2, 3, 4, 5] and df.fold.value_counts().max() - df.fold.value_counts().min() <= task.n_labels
    assert (df.label_name == [task.labels[c] for c in df.label]).all()
    assert df.equals(demo_captions(problem, n=100, seed=3)) and not df.equals(demo_captions(problem, n=100, seed=4))

def test_demo_captions_words_carry_the_label():
    df = demo_captions('p5', n=500, noise=0.0)
    pos, neg = df.text.str.contains('wonderful|joyful|beautiful|delightful|amazing|happy'), df.text.str.contains('terrible|devastated|horrible|tragic|frightening|ruined')
    assert pos[df.label_name == 'positive'].all() and not pos[df.label_name == 'negative'].any()
    assert neg[df.label_name == 'negative'].all()
    noisy = demo_captions('p5', n=500, noise=0.5)
    assert (noisy.text != df.text).any()

def test_demo_caption_set_needs_no_data():
    assert len(load_caption_set('demo', 'p5')) == 200

def test_demo_images(tmp_path):
    df = demo_images(tmp_path, n=14, seed=2, size=16)
    assert list(df.columns) == ['id', 'image_path', 'text', 'image_label', 'text_label', 'label']
    assert not ((df.text_label == 'positive') & (df.image_label == 'negative')).any()
    assert (df.label == [mvsa_label(t, i) for t, i in zip(df.text_label, df.image_label)]).all()
    for p, lab in zip(df.image_path, df.image_label):
        r, g, b = np.asarray(Image.open(p)).reshape(-1, 3).mean(0)
        assert Image.open(p).size == (16, 16)
        assert {'positive': r > b + 60, 'negative': b > r + 40, 'neutral': abs(r - b) < 30}[lab]
    assert df.equals(demo_images(tmp_path/'again', n=14, seed=2, size=16).assign(image_path=df.image_path))

# ---------------------------------------------------------------- MVSA folders
def mvsa_folder(tmp_path, lines, header='ID\ttext,image', texts=None, skip=()):
    "A tiny MVSA folder: labelResultAll.txt plus data/{id}.txt (utf-8 unless given as bytes) and data/{id}.jpg."
    (tmp_path/'data').mkdir(parents=True, exist_ok=True)
    (tmp_path/'labelResultAll.txt').write_text('\n'.join([header] + lines) + '\n')
    for line in lines:
        id_ = line.split('\t')[0]
        t = (texts or {}).get(id_, f'post {id_} text #tag')
        if f'{id_}.txt' not in skip: (tmp_path/'data'/f'{id_}.txt').write_bytes(t if isinstance(t, bytes) else t.encode())
        if f'{id_}.jpg' not in skip: Image.new('RGB', (8, 8), (200, 100, 50)).save(tmp_path/'data'/f'{id_}.jpg')
    return tmp_path

def test_mvsa_single_rules_and_encodings(tmp_path):
    f = mvsa_folder(tmp_path, ['1\tpositive,positive', '2\tneutral,negative', '3\tpositive,negative', '4\tPositive,neutral', '5\tneutral,neutral'],
                    texts={'2': 'caf\xe9 \u2019ok\u2019'.encode('cp1252'), '5': b'na\xefve \x81'})
    df = load_mvsa(f)
    assert df.id.tolist() == ['1', '2', '4', '5'] and df.label.tolist() == ['positive', 'negative', 'positive', 'neutral']
    assert df.attrs['dropped'] == {'text and image disagree': 1}
    assert df.text_encoding.tolist() == ['utf-8', 'cp1252', 'utf-8', 'latin-1']
    assert df.text[1] == 'caf\xe9 \u2019ok\u2019' and df.text[3].startswith('na\xefve')
    assert all(Path(p).is_file() for p in df.image_path) and (df.problem == '').all()

def test_mvsa_multiple_majorities(tmp_path):
    lines = ['10\tpositive,neutral\tpositive,positive\tneutral,neutral',    # text pos (2/3), image neutral (2/3) -> positive
             '11\tnegative,positive\tneutral,neutral\tpositive,negative',   # no text majority -> dropped
             '12\tnegative,negative\tnegative,negative\tpositive,positive', # negative
             '13\tpositive,negative\tpositive,negative\tneutral,neutral']   # positive vs negative -> dropped
    df = load_mvsa(mvsa_folder(tmp_path, lines, header='ID\ttext,image\ttext,image\ttext,image'), variant='MVSA-Multiple')
    assert df[['id', 'text_label', 'image_label', 'label']].values.tolist() == [['10', 'positive', 'neutral', 'positive'], ['12', 'negative', 'negative', 'negative']]
    assert df.attrs['dropped'] == {'no majority': 1, 'text and image disagree': 1}

@pytest.mark.parametrize('lines,variant,msg', [
    (['1\tpositive,happy'], 'single', "line 2 (id '1'): 'positive,happy' is not a 'text,image' pair"),
    (['1\tpositive,neutral', '2\tpositive'], 'single', "line 3 (id '2'): 'positive' is not a 'text,image' pair"),
    (['1\tpositive,neutral\tneutral,neutral'], 'single', 'line 2: 2 text,image pair(s) for MVSA-Single, expected 1'),
    (['1\tpositive,neutral'], 'multiple', 'line 2: 1 text,image pair(s) for MVSA-Multiple, expected 3'),
    (['1\tpositive,neutral', '1\tneutral,neutral'], 'single', "line 3: id '1' already on line 2"),
])
def test_mvsa_bad_lines(tmp_path, lines, variant, msg):
    f = mvsa_folder(tmp_path, lines)
    with pytest.raises(DataError) as e: load_mvsa(f, variant)
    assert msg in str(e.value) and 'labelResultAll.txt' in str(e.value)

def test_mvsa_missing_files(tmp_path):
    f = mvsa_folder(tmp_path, ['1\tpositive,positive', '2\tneutral,negative', '3\tneutral,neutral'], skip=('2.txt', '3.jpg'))
    with pytest.raises(DataError, match=r"line 3 \(id '2'\): missing .*2.txt"): load_mvsa(f)
    with pytest.warns(UserWarning, match='2 post'): rec = load_mvsa(f, on_missing='record')
    assert len(rec) == 3 and rec.problem[0] == '' and 'missing' in rec.problem[1] and rec.text[1] == '' and rec.image_path.isna()[2]
    with pytest.warns(UserWarning, match='dropped'): dr = load_mvsa(f, on_missing='drop')
    assert dr.id.tolist() == ['1'] and dr.attrs['dropped'] == {'missing files': 2}
    with pytest.raises(ValueError, match='on_missing'): load_mvsa(f, on_missing='skip')

def test_mvsa_bad_header_and_encoding(tmp_path):
    f = mvsa_folder(tmp_path, ['1\tpositive,positive'], header='post\tlabels')
    with pytest.raises(DataError, match="line 1 should be the header"): load_mvsa(f)
    (tmp_path/'labelResultAll.txt').write_bytes(b'ID\ttext,image\n1\tpositive,positive\xff\n')
    with pytest.raises(DataError, match=r'labelResultAll.txt: not valid utf-8 text: byte 33 .*line 2'): load_mvsa(f)

def test_demo_images_round_trip_through_load_mvsa(tmp_path):
    df = demo_images(tmp_path, n=10, layout='mvsa')
    back = load_mvsa(tmp_path)
    assert back[['id', 'text', 'label']].equals(df[['id', 'text', 'label']])

# ---------------------------------------------------------------- EmoLLMs instruction data
SST5 = ('Task: Classify the text into one of five classes of sentiment. 0: very negative, 1: negative, 2: neutral, '
        '3: positive, 4: very positive. Text: {t} Sentiment Class: ')
EI_OC = ('Task: Assign one of four ordinal intensity classes of emotion E. 0: no E can be inferred. 1: low amount of E can be '
         'inferred. Tweet: {t} Emotion E: {e}. Intensity Class: ')
V_OC = 'Task: Place the tweet into an ordinal class. 3: very positive mental state can be inferred. Tweet: {t} Intensity Class: '
EC = ("Task: Classify the tweet as 'neutral or no emotion' or as one or more of (anger, anticipation, disgust, fear, joy, love, "
      "optimism, pessimism, sadness, surprise, trust). Tweet: {t} This tweet contains emotions: ")
GO = "Task: Categorize the text as either 'neutral' or one or more of (anger, disgust, fear, joy, sadness, surprise). Text: {t} This tweet contains emotions: "

def test_instruction_csv(tmp_path):
    p = tmp_path/'mine.csv'
    pd.DataFrame({'Instruction': [SST5.format(t='a dull film .'), GO.format(t='so glad!'), GO.format(t='ok')],
                  'Answer': ['1: negative', 'joy, surprise', 'neutral']}).to_csv(p, index=False)
    df = load_instructions(p)
    assert df.id.tolist() == ['mine-1', 'mine-2', 'mine-3'] and df.text.tolist() == ['a dull film .', 'so glad!', 'ok']
    assert df.task.tolist() == ['sst5', 'goemotions', 'goemotions'] and df.kind.tolist() == ['ordinal', 'multilabel', 'multilabel']
    assert df.gold.tolist() == ['negative', ('joy', 'surprise'), ('neutral',)]

def test_instruction_json_shapes(tmp_path):
    conv = lambda i, q, a: json.dumps({'id': i, 'conversations': [{'from': 'human', 'value': q}, {'from': 'assistant', 'value': a}]})
    (tmp_path/'train.json').write_text('\n'.join([
        conv('a', EI_OC.format(t='grim day :/.', e='sadness'), '2: moderate amount of sadness can be inferred'),
        conv('b', V_OC.format(t='great!'), '-3: very negative emotional state can be inferred'),
        conv('c', EC.format(t='meh.'), 'neutral or no emotion.'),
        conv('d', EC.format(t='grr.'), 'disgust, anger.'),
        conv('e', 'Task: Calculate the intensity of emotion E from 0 to 1. Tweet: ugh Emotion E: anger. Intensity Score: ', '0.75'),
        conv('f', 'Task: Measure the valence between 0 (negative) and 1 (positive). Tweet: yay Intensity Score: ', '0.9')]) + '\n\n')
    df = load_instructions(tmp_path/'train.json')
    assert df.task.tolist() == ['ei_oc', 'v_oc', 'e_c', 'e_c', 'ei_reg', 'v_reg']
    assert df.gold.tolist() == ['moderate', 'very negative', (), ('anger', 'disgust'), 0.75, 0.9]
    assert df.emotion.tolist()[0] == 'sadness' and df.emotion.tolist()[4] == 'anger' and pd.isna(df.emotion[1])
    assert df.text.tolist()[:2] == ['grim day :/.', 'great!']
    (tmp_path/'test.json').write_text(json.dumps({'instruction': SST5.format(t='fine .'), 'input': '', 'output': '4: very positive'}) + '\n')
    one = load_instructions(tmp_path/'test.json')
    assert one[['id', 'task', 'gold']].values.tolist() == [['test-1', 'sst5', 'very positive']]

@pytest.mark.parametrize('instruction,answer,msg', [
    (SST5.format(t='x'), '5: very positive', "answer '5: very positive' is not a gold value of task 'sst5'"),
    (SST5.format(t='x'), 'meh', "expected a code [0, 1, 2, 3, 4], '<code>: <label>' or a label name"),
    (SST5.format(t='x'), '-1', "code -1 is not one of the codes [0, 1, 2, 3, 4]"),
    (SST5.format(t='x'), '3: negative', 'code 3 does not match'),
    (EI_OC.format(t='x', e='fear'), '1: low amount of joy can be inferred', "asks about 'fear'"),
    (EC.format(t='x'), 'anger, boredom.', "['boredom'] not among"),
    ('Task: Calculate the sentiment score between -4 and 4. Text: x Intensity Score: ', 'high', 'could not convert'),
    ('Task: Calculate the sentiment score between -4 and 4. Text: x Intensity Score: ', '4.5', "outside vader's range"),
    ('Task: say something. Text: x Answer: ', 'yes', "the instruction 'Task: say something.': it states no label set or score range"),
    ('Task: say something. Text: x', 'yes', "no text after 'Text: '"),
    ('Task: rate it on a scale of 1 to 5. Text: x Score: ', '5.5', "outside score:1..5's range 1.0..5.0"),
])
def test_bad_instruction_rows(tmp_path, instruction, answer, msg):
    p = tmp_path/'bad.csv'
    pd.DataFrame({'Instruction': [SST5.format(t='fine'), instruction], 'Answer': ['2: neutral', answer]}).to_csv(p, index=False)
    with pytest.raises(DataError) as e: load_instructions(p)
    assert str(p) in str(e.value) and 'data row 2' in str(e.value) and msg in str(e.value)

def test_bad_json_files(tmp_path):
    (tmp_path/'a.json').write_text('{"instruction": "x", "input": "", "output": "1"}\n{oops\n')
    with pytest.raises(DataError, match='a.json: line 2: not valid JSON'): load_instructions(tmp_path/'a.json')
    (tmp_path/'b.json').write_text('{"prompt": "x", "answer": "1"}\n')
    with pytest.raises(DataError, match=r"b.json: line 1: expected .* got keys \['prompt', 'answer'\]"): load_instructions(tmp_path/'b.json')
    (tmp_path/'c.json').write_text(json.dumps([{'instruction': SST5.format(t='y'), 'output': '0: very negative'}]))
    assert load_instructions(tmp_path/'c.json').gold.tolist() == ['very negative']
    (tmp_path/'d.csv').write_text('Instruction,Output\nx,y\n')
    with pytest.raises(DataError, match=r"missing column\(s\) \['Answer'\]"): load_instructions(tmp_path/'d.csv')

def test_forced_task(tmp_path):
    "An instruction that states no range is refused with the instruction quoted, unless the task is given."
    p = tmp_path/'f.csv'
    pd.DataFrame({'Instruction': ['Task: rate it. Text: nice Intensity Score: '], 'Answer': ['0.4']}).to_csv(p, index=False)
    with pytest.raises(DataError, match=r"f.csv: data row 1 \(id 'f-1'\): the instruction 'Task: rate it.': it states no label set"): load_instructions(p)
    assert load_instructions(p, task='ei_reg').task[0] == 'ei_reg'

@pytest.mark.parametrize('record,msg', [
    ({'instruction': SST5.format(t='x'), 'input': '', 'output': 3}, "line 2: field 'output' is 3 (int); expected a string (the answer as text"),
    ({'instruction': SST5.format(t='x'), 'input': '', 'output': None}, "line 2: field 'output' is null (NoneType); expected a string"),
    ({'instruction': None, 'input': '', 'output': '1: negative'}, "line 2: field 'instruction' is null (NoneType); expected a string"),
    ({'instruction': SST5.format(t='x'), 'input': 7, 'output': '1: negative'}, "line 2: field 'input' is 7 (int)"),
    ({'id': 'b', 'conversations': None}, "line 2: field 'conversations' is null; expected a list of turns"),
    ({'id': 'b', 'conversations': 'hi'}, "line 2: field 'conversations' is \"hi\"; expected a list of turns"),
    ({'id': 'b', 'conversations': [{'from': 'human', 'value': SST5.format(t='x')}, {'from': 'assistant', 'value': 0.5}]},
     "line 2: field 'value' is 0.5 (float); expected a string in conversations[1]"),
    ({'id': ' b', 'conversations': [{'from': 'human', 'value': SST5.format(t='x')}, {'from': 'assistant', 'value': '1: negative'}]},
     "line 2: field 'id' = ' b' has leading or trailing spaces; write it as 'b'"),
    ({'id': None, 'instruction': SST5.format(t='x'), 'output': '1: negative'}, "line 2: field 'id' is null; expected a non-empty string or integer"),
    ([1, 2], "line 2: expected {'instruction','input','output'} or {'id','conversations':[human, assistant]}, got list"),
])
def test_bad_json_fields(tmp_path, record, msg):
    "AAID JSON lines with a number or null where text belongs: the file, the line, the field and what it should be."
    good = {'instruction': SST5.format(t='y'), 'input': '', 'output': '2: neutral'}
    (tmp_path/'aaid.json').write_text(json.dumps(good) + '\n' + json.dumps(record) + '\n')
    with pytest.raises(DataError) as e: load_instructions(tmp_path/'aaid.json')
    assert str(tmp_path/'aaid.json') in str(e.value) and msg in str(e.value)

# ---------------------------------------------------------------- label spaces stated by the instruction (issue 13)
ORD3 = 'Task: Classify the sentiment of the tweet. 1: positive. 0: neutral. -1: negative. Tweet: {t} Sentiment Class: '
SCALE5 = 'Task: Rate the valence of the text on a scale of 1 (most negative) to 5 (most positive). Text: {t} Intensity Score: '
V_OC7 = ('Task: Categorize the tweet into an ordinal class. 3: very positive mental state can be inferred. 2: moderately positive '
         'mental state can be inferred. 1: slightly positive mental state can be inferred. 0: neutral or mixed mental state can be '
         'inferred. -1: slightly negative mental state can be inferred. -2: moderately negative mental state can be inferred. '
         '-3: very negative mental state can be inferred Tweet: {t} Intensity Class: ')
ORD7 = ('Task: Grade the review. -3: awful, -2: bad, -1: poor, 0: fair, 1: decent, 2: good, 3: superb. Review: {t} Class: ')
EMO5 = "Task: Name the emotions of the text, either 'neutral or no emotion' or some of (anger, fear, joy, love, sadness). Text: {t} Emotions: "

@pytest.mark.parametrize('instruction,answers,task,kind,labels,golds', [
    (ORD3, ['-1', '0', '1'], 'ordinal3:-1..1', 'ordinal', ('negative', 'neutral', 'positive'), ['negative', 'neutral', 'positive']),
    (ORD3, ['-1: negative', '1: positive.', 'neutral'], 'ordinal3:-1..1', 'ordinal', None, ['negative', 'positive', 'neutral']),
    (SCALE5, ['2.8', '1', '5.0'], 'score:1..5', 'regression', None, [2.8, 1.0, 5.0]),
    (V_OC7, ['-3', '0: neutral or mixed emotional state can be inferred', '2: moderately positive'], 'v_oc', 'ordinal', None,
     ['very negative', 'neutral or mixed', 'moderately positive']),
    (ORD7, ['-3: awful', '3', 'fair'], 'ordinal7:-3..3', 'ordinal', ('awful', 'bad', 'poor', 'fair', 'decent', 'good', 'superb'), ['awful', 'superb', 'fair']),
    (EMO5, ['joy, love', 'neutral or no emotion', 'fear.'], 'emotions5', 'multilabel', ('anger', 'fear', 'joy', 'love', 'sadness'), [('joy', 'love'), (), ('fear',)]),
])
def test_stated_label_spaces(tmp_path, instruction, answers, task, kind, labels, golds):
    "Each stated form reads: bare codes, `code: label`, label names, a 1-5 scale, 7-class ordinals, emotion lists."
    p = tmp_path/'my_set.csv'
    pd.DataFrame({'Instruction': [instruction.format(t=f'text {i}') for i in range(3)], 'Answer': answers}).to_csv(p, index=False)
    df = load_instructions(p)
    assert df.task.unique().tolist() == [task] and df.kind.unique().tolist() == [kind] and df.gold.tolist() == golds
    t = instruction_tasks(df)[task]
    if labels: assert t.labels == labels
    if kind == 'regression': assert t.value_range == (1.0, 5.0)

def test_a_file_mixing_kinds_is_split_by_task(tmp_path):
    lines = [{'instruction': ORD3.format(t='a'), 'output': '-1'}, {'instruction': SCALE5.format(t='b'), 'output': '2.8'},
             {'instruction': EMO5.format(t='c'), 'output': 'anger'}, {'instruction': SST5.format(t='d'), 'output': '4: very positive'},
             {'instruction': ORD3.format(t='e'), 'output': '0'}]
    (tmp_path/'mixed.json').write_text('\n'.join(json.dumps(r) for r in lines))
    df = load_instructions(tmp_path/'mixed.json')
    assert df.task.tolist() == ['ordinal3:-1..1', 'score:1..5', 'emotions5', 'sst5', 'ordinal3:-1..1']
    assert {k: t.kind for k, t in instruction_tasks(df).items()} == {'ordinal3:-1..1': 'ordinal', 'score:1..5': 'regression', 'emotions5': 'multilabel', 'sst5': 'ordinal'}

def test_two_spaces_with_one_name_stay_apart(tmp_path):
    other = 'Task: Classify it. 1: good. 0: so-so. -1: bad. Text: {t} Sentiment Class: '
    p = tmp_path/'two.csv'
    pd.DataFrame({'Instruction': [ORD3.format(t='a'), other.format(t='b')], 'Answer': ['1', '1']}).to_csv(p, index=False)
    df = load_instructions(p)
    assert df.task.tolist() == ['ordinal3:-1..1', 'ordinal3:-1..1#2'] and df.gold.tolist() == ['positive', 'good']
    assert instruction_tasks(df)['ordinal3:-1..1#2'].labels == ('bad', 'so-so', 'good')

@needs_data
@pytest.mark.parametrize('name,n,tasks', [
    ('sst5_test.csv', 2210, {'sst5'}), ('goemotion_test.csv', 5427, {'goemotions'}), ('vader_test.csv', 4000, {'vader'}),
    ('SST_test.csv', 2210, {'sst'}), ('train.json', 999, {'ei_reg', 'ei_oc', 'v_reg', 'v_oc', 'e_c'}),
    ('dev.json', 199, {'ei_reg', 'ei_oc', 'v_reg', 'v_oc', 'e_c'}), ('test.json', 39, {'ei_reg', 'v_reg', 'v_oc'})])
def test_real_instruction_files(name, n, tasks):
    df = load_instructions(DATA/'emollms'/name)
    assert len(df) == n and set(df.task) == tasks and df.id.is_unique and (df.text.str.len() > 0).all()
    for t, g in df.groupby('task'):
        task = get_task(t)
        if task.kind == 'regression': assert g.gold.map(lambda v: task.value_range[0] <= v <= task.value_range[1]).all()
        elif task.kind == 'multilabel': assert g.gold.map(lambda v: isinstance(v, tuple) and set(v) <= set(task.labels)).all()
        else: assert g.gold.isin(task.labels).all()
    assert not df.text.str.contains('Sentiment Class:|Intensity Score:|Emotion E:|This tweet contains emotions:').any()
    ei = df[df.task.str.startswith('ei_')]
    assert ei.emotion.notna().all() and df[~df.task.str.startswith('ei_')].emotion.isna().all()
