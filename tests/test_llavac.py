"""LLaVAC on a tiny LLaVA built from a config: the model learns from text AND pixels; QLoRA, ablation, bad labels; the route
through cross_validate; MVSA-Multiple offline; MVSA ids that are not plain file names."""
import os, re, sys, json, time
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np, pandas as pd, pytest, torch
from PIL import Image
torch.set_num_threads(1)
from mllmsent.vision_models import tiny_llava, load_vision_model
from mllmsent.llavac import (LABELS, llavac_examples, train_llavac, predict_llavac, llavac_proba, parse_llavac, add_llava_lora,
                             LLaVACCollator)
from mllmsent.crossval import fold_scores

def scores(examples, probs):
    "Accuracy (%) of each target's argmax against the examples' gold labels, through the package's one metric function."
    return {f'{k}_accuracy': 100 * fold_scores('mvsa', [LABELS.index(e[f'{k}_label']) for e in examples], p.argmax(1))['accuracy']
            for k, p in probs.items()}

COLOURS = {'negative': (0, 0, 255), 'neutral': (128, 128, 128), 'positive': (255, 0, 0)}
WORDS = {'negative': ['sad', 'awful', 'hate', 'terrible', 'bad'], 'neutral': ['street', 'car', 'house', 'tree', 'sky'],
         'positive': ['happy', 'great', 'love', 'wonderful', 'good']}

def synthetic_pairs(n, seed):
    """Image label = colour (blue/gray/red, jittered); text label = the sentiment of its words.
    Stated multimodal rule: the image decides (multimodal label = image label), so text alone cannot solve it."""
    r, rows = np.random.default_rng(seed), []
    for i in range(n):
        il, tl = r.choice(LABELS), r.choice(LABELS)
        c = np.clip(np.array(COLOURS[il]) + r.integers(-30, 31, 3), 0, 255)
        rows.append(dict(id=f'{seed}-{i}', text=' '.join(r.choice(WORDS[tl], 2)) + ' day',
                         image=Image.new('RGB', (32, 32), tuple(int(x) for x in c)), text_label=tl, image_label=il, label=il))
    return pd.DataFrame(rows)

def test_lora_learns_text_and_pixels(tmp_path):
    t0 = time.time()
    train, test = llavac_examples(synthetic_pairs(240, 0)), llavac_examples(synthetic_pairs(60, 1))
    model, processor = tiny_llava()
    before = scores(test, llavac_proba(model, processor, test, method='positions')[0])
    assert before['multimodal_accuracy'] < 60, before          # chance is 33%
    model = train_llavac(model, processor, train, tmp_path, epochs=6, learning_rate=3e-3, batch_size=16,
                         lora=dict(r=8, lora_alpha=16, lora_dropout=0.0), disable_tqdm=True)
    after = scores(test, llavac_proba(model, processor, test, method='triples', batch_size=16)[0])
    print('before', before, '\nafter', after)
    assert after['multimodal_accuracy'] >= 95 and after['image_accuracy'] >= 95, after
    assert after['text_accuracy'] >= 60, after                   # words are learned too (chance 33%)
    # pixels matter: the same texts with other rows' images -> image and multimodal labels fall to chance
    perm = np.random.default_rng(2).permutation(len(test))
    swapped = [dict(e, image=test[j]['image']) for e, j in zip(test, perm)]
    mismatch = np.mean([test[j]['image_label'] != e['image_label'] for e, j in zip(test, perm)])
    sw_pred = llavac_proba(model, processor, swapped, method='positions', batch_size=16)[0]
    sw = scores(test, sw_pred)
    follows = scores([dict(e, image_label=test[j]['image_label'], multimodal_label=test[j]['multimodal_label'])
                      for e, j in zip(test, perm)], sw_pred)
    print('swapped images', sw, '\nshare of rows whose image label changed', mismatch, '\nvs the swapped-in images', follows)
    assert sw['multimodal_accuracy'] <= 100 * (1 - mismatch) + 15, sw
    assert sw['multimodal_accuracy'] < 60 and sw['image_accuracy'] < 60, sw
    assert follows['image_accuracy'] >= 90 and follows['multimodal_accuracy'] >= 90, follows  # the labels follow the pixels
    assert abs(sw['text_accuracy'] - after['text_accuracy']) <= 20   # the text is still read
    gen_probs, answers = llavac_proba(model, processor, test, method='generate', batch_size=16)
    gen = scores(test, gen_probs)
    unreadable = sum(parse_llavac(a)['multimodal_label'] is None for a in answers)
    print('generate + parse', gen, 'unreadable answers', unreadable)
    assert gen['multimodal_accuracy'] >= 90 and unreadable <= 3, (gen, unreadable)   # an unreadable answer is a uniform guess
    print(f'test took {time.time() - t0:.0f} s')

def test_qlora_4bit_steps_and_ablation(tmp_path):
    model, processor = tiny_llava()
    model.save_pretrained(tmp_path / 'm'); processor.save_pretrained(tmp_path / 'm')
    m4, p4 = load_vision_model(tmp_path / 'm', bits=4, dtype=torch.float32)
    kinds = {n: type(x).__name__ for n, x in m4.named_modules()}
    assert kinds['model.language_model.layers.1.mlp.down_proj'] == 'Linear4bit'
    assert not any(k == 'Linear4bit' for n, k in kinds.items() if 'vision_tower' in n or 'projector' in n)
    ex = llavac_examples(synthetic_pairs(16, 3), targets='multimodal')
    assert all(e['answer'] in LABELS for e in ex)
    peft = add_llava_lora(m4, r=4, lora_alpha=8)
    a0 = {n: p.detach().clone() for n, p in peft.named_parameters() if p.requires_grad}
    assert a0 and all('language_model' in n for n in a0)
    peft = train_llavac(peft, p4, ex, tmp_path / 'run', max_steps=3, batch_size=8, learning_rate=1e-2, disable_tqdm=True)
    changed = [n for n, p in peft.named_parameters() if n in a0 and not torch.equal(p, a0[n])]
    assert changed
    pred = predict_llavac(peft, p4, ex[:4], targets='multimodal', batch_size=4)
    assert list(pred.columns) == ['id', 'answer', 'multimodal_label'] and pred.multimodal_label.isin(LABELS).all()
    assert set(scores(ex[:4], llavac_proba(peft, p4, ex[:4], targets='multimodal', batch_size=4)[0])) == {'multimodal_accuracy'}

def test_projector_can_be_trained():
    peft = add_llava_lora(tiny_llava()[0], r=4, lora_alpha=8, train_projector=True)
    names = [n for n, p in peft.named_parameters() if p.requires_grad]
    assert any('multi_modal_projector' in n for n in names)
    assert not any('vision_tower' in n for n in names)

def test_bad_labels_and_missing_image_are_named(tmp_path):
    df = synthetic_pairs(3, 4)
    bad = df.assign(text_label=['positive', 'very happy', 'neutral'])
    with pytest.raises(ValueError, match=r"row 1 \(id '4-1'\), column 'text_label'.*'very happy'"):
        llavac_examples(bad)
    with pytest.raises(ValueError, match='targets='):
        llavac_examples(df, targets='both')
    _, processor = tiny_llava()
    missing = llavac_examples(df.drop(columns='image').assign(image_path=str(tmp_path / 'gone.jpg')))
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        LLaVACCollator(processor)(missing)

def test_mvsa_folder_end_to_end_with_bad_inputs(tmp_path):
    "A synthetic MVSA folder: latin-1 text, a corrupt JPEG, a missing image, an unknown label -> recorded or a named error."
    from mllmsent.data import demo_images, load_mvsa, DataError
    from mllmsent.llavac import mvsa_split
    from mllmsent.splits import load_split
    from mllmsent.core import sha256_file
    folder = tmp_path / 'MVSA_Single'
    demo_images(folder, n=30, layout='mvsa')
    df = load_mvsa(folder)
    ids = list(df.id)
    (folder / 'data' / f'{ids[0]}.txt').write_bytes('café naïve'.encode('latin-1'))      # another encoding
    (folder / 'data' / f'{ids[1]}.jpg').write_bytes(b'\xff\xd8\xff\xe0 corrupt')          # corrupt JPEG
    (folder / 'data' / f'{ids[2]}.jpg').unlink()                                            # missing image
    with pytest.warns(UserWarning, match='missing files'):
        df = load_mvsa(folder, on_missing='record')
    assert len(df) == len(ids)                                                              # nothing lost
    assert df.set_index('id').text[ids[0]] == 'café naïve'
    assert df.set_index('id').text_encoding[ids[0]] in ('cp1252', 'latin-1')
    with pytest.raises(ValueError, match=rf"id '{ids[2]}'.*no image"):
        llavac_examples(df)
    ok = df[df.problem == '']
    ex = llavac_examples(ok)
    _, processor = tiny_llava()
    bad = [e for e in ex if e['id'] == ids[1]]
    with pytest.raises(ValueError, match=rf"{ids[1]}\.jpg: not a readable image"):
        LLaVACCollator(processor)(bad)
    split, sha = mvsa_split(ok, 'random811', out=tmp_path / 'split.csv')
    assert sha == sha256_file(tmp_path / 'split.csv') and len(load_split(tmp_path / 'split.csv')) == len(ok)
    lines = (folder / 'labelResultAll.txt').read_text().splitlines()
    lines[3] = lines[3].split('\t')[0] + '\tpositive,ecstatic'
    (folder / 'labelResultAll.txt').write_text('\n'.join(lines) + '\n')
    with pytest.raises(DataError, match=r"line 4 .*'positive,ecstatic'"):
        load_mvsa(folder, on_missing='record')

# --- LLaVAC through the one engine ---------------------------------------------------------------------------------

def mvsa_rows(posts):
    "MVSA posts with the three target columns as label codes, as the experiment builds them."
    return posts.assign(**{c: posts[c].map(LABELS.index) for c in ('text_label', 'image_label', 'label')})

def test_route_through_cross_validate_scores_three_targets(tmp_path):
    from mllmsent.llavac import LLaVACFineTune, demo_mvsa, mvsa_split
    from mllmsent.crossval import cross_validate
    rows = mvsa_rows(demo_mvsa(tmp_path / 'MVSA_Single', n=40))
    split, _ = mvsa_split(rows, 'random811')
    route = LLaVACFineTune(lora_r=4, lora_alpha=8, batch_size=8, epochs=1)
    res = cross_validate(route, rows, split, resume_dir=tmp_path / 'folds', progress=False)
    pf = res.per_fold.iloc[0]
    for t in ('text', 'image', 'multimodal'):
        assert 0 <= pf[f'{t}_accuracy'] <= 1 and f'{t}_f1_weighted' in pf       # fractions, from fold_scores
    assert pf['n_val_unused'] == pf['n_val'] > 0                              # LLaVAC trains without a validation set
    assert res.predictions.groupby('target').size().to_dict() == {t: pf['n_test'] for t in ('image', 'multimodal', 'text')}
    again = cross_validate(LLaVACFineTune(lora_r=4, lora_alpha=8, batch_size=8, epochs=1), rows, split,
                           resume_dir=tmp_path / 'folds', progress=False)   # resumed: read back, not trained
    assert again.per_fold.multimodal_accuracy.tolist() == res.per_fold.multimodal_accuracy.tolist()
    ablation = LLaVACFineTune(targets='multimodal', lora_r=4, lora_alpha=8, batch_size=8)
    assert ablation.targets == {'multimodal': 'label'}
    with pytest.raises(ValueError, match="column 'text_label'"):     # names instead of codes: named, before training
        cross_validate(route, rows.assign(text_label=rows.text_label.map(lambda c: LABELS[c])), split, progress=False)

def test_mvsa_multiple_majority_folder(tmp_path):
    from mllmsent.llavac import demo_mvsa
    from mllmsent.data import load_mvsa
    multi = demo_mvsa(tmp_path / 'm', 'multiple', n=60, seed=3)
    single = demo_mvsa(tmp_path / 's', 'single', n=60, seed=3)
    assert multi.attrs['dropped']['no majority'] > 0 and len(multi) + multi.attrs['dropped']['no majority'] == 60
    kept = single.set_index('id').loc[multi.id]
    assert (kept[['text_label', 'image_label', 'label']].to_numpy() == multi[['text_label', 'image_label', 'label']].to_numpy()).all()
    lines = (tmp_path / 'm' / 'labelResultAll.txt').read_text().splitlines()
    assert all(len(l.split('\t')) == 4 for l in lines)                          # id + three annotators

def test_mvsa_multiple_offline_run_beside_single(tmp_path):
    "The experiment on a synthetic MVSA-Multiple folder this test writes, as a user's real folder is read."
    from mllmsent.llavac import demo_mvsa
    from mllmsent.experiments import run_experiment
    folder = tmp_path / 'MVSA_Multiple'
    demo_mvsa(folder, 'multiple', n=60, seed=0)
    nb = os.path.join(os.path.dirname(__file__), '..', 'nbs', 'experiments', 'llavac.ipynb')
    res = run_experiment(nb, dict(mvsa_dir=str(folder), variant='multiple', lora_r=4, lora_alpha=8, epochs=2, learning_rate=3e-3,
                                  batch_size=8), tmp_path / 'run', cwd=tmp_path)
    assert res['params']['variant'] == 'multiple' and res['extra']['demo'] is False
    assert res['extra']['dropped']['no majority'] > 0
    assert {'text_accuracy', 'image_accuracy', 'multimodal_accuracy', 'multimodal_f1_weighted'} <= set(res['summary'])
    md = (tmp_path / 'run' / 'llavac_random811_lora_all_mvsa-multiple_offline.md').read_text()
    assert '| reported |' not in md and '| reproduced | this run: tiny random LLaVA, MVSA-Multiple (smoke test), lora, all, 1 split(s) |' in md, md

@pytest.mark.parametrize('bad_id', ['../../x', 'a/b', '.hidden', '..', 'x\\y'])
def test_mvsa_ids_that_are_not_plain_file_names_are_refused(tmp_path, bad_id):
    from mllmsent.llavac import mvsa_posts, demo_mvsa
    from mllmsent.data import DataError
    demo_mvsa(tmp_path, n=6)
    lines = (tmp_path / 'labelResultAll.txt').read_text().splitlines()
    lines[4] = bad_id + '\t' + lines[4].split('\t')[1]
    (tmp_path / 'labelResultAll.txt').write_text('\n'.join(lines) + '\n')
    with pytest.raises(DataError, match=r"labelResultAll.txt: line 5: id " + re.escape(repr(bad_id)) + " is not a plain file name"):
        mvsa_posts(tmp_path)
