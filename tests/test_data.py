"Edge cases of the data loaders (bad files, encodings, MVSA folders, instruction files) that read badly as a docs page."
import json, warnings
import numpy as np, pandas as pd, pytest
from pathlib import Path
from PIL import Image
from mllmsent.core import data_dir, get_task
from mllmsent.data import (DataError, CAPTION_SOURCES, caption_file, load_captions, load_caption_set, load_mllmsent_log,
                           perceptsent_labels, load_mvsa, mvsa_label, load_instructions, demo_captions, demo_images)

DATA = data_dir()
needs_data = pytest.mark.skipif(DATA is None, reason='no ../shared/data here (set MLLMSENT_DATA)')
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
    with pytest.raises(ValueError, match='Unknown caption source'): caption_file('llava', 'p3', 3, tmp_path)
    with pytest.raises(ValueError, match="'p3' and 'p5'"): caption_file('minigpt4', 'p2plus', 3, tmp_path)
    with pytest.raises(ValueError, match='alpha must be 3 or 5'): caption_file('minigpt4', 'p3', 4, tmp_path)
    with pytest.raises(FileNotFoundError, match='caption file not found'): caption_file('minigpt4', 'p3', 3, tmp_path)
    (tmp_path/'minigpt4_p3_alpha3.csv').write_text(GOOD)   # `data` may be the captions folder itself
    assert len(load_caption_set('minigpt4', 'p3', 3, data=tmp_path)) == 3

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
    (SST5.format(t='x'), 'negative', "expected '<code>: <label>'"),
    (SST5.format(t='x'), '3: negative', 'code 3 does not match'),
    (EI_OC.format(t='x', e='fear'), '1: low amount of joy can be inferred', "asks about 'fear'"),
    (EC.format(t='x'), 'anger, boredom.', "['boredom'] not among"),
    ('Task: Calculate the sentiment score between -4 and 4. Text: x Intensity Score: ', 'high', 'could not convert'),
    ('Task: Calculate the sentiment score between -4 and 4. Text: x Intensity Score: ', '4.5', "outside vader's range"),
    ('Task: say something. Text: x Answer: ', 'yes', "no text after 'Text: '"),
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
    p = tmp_path/'f.csv'
    pd.DataFrame({'Instruction': ['Task: rate it. Text: nice Intensity Score: '], 'Answer': ['0.4']}).to_csv(p, index=False)
    assert load_instructions(p).task[0] == 'v_reg' and load_instructions(p, task='ei_reg').task[0] == 'ei_reg'

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
