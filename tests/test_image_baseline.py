"Image baseline (MLLMsent's Swin row) on a tiny Swin: learns colours, bad labels/images named, hub-style reload with a new head;\nthe image classifier and the direct MLLM as routes through cross_validate."
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np, pandas as pd, pytest, torch
from PIL import Image
torch.set_num_threads(1)
from mllmsent.image_baseline import (tiny_image_classifier, train_image_classifier, predict_images, load_image_classifier,
                                     label_codes)
from mllmsent.data import demo_images

def test_learns_colour_labels(tmp_path):
    demo = demo_images(tmp_path / 'd', n=90, seed=1)
    train, test = demo[:72].assign(label=demo.image_label[:72]), demo[72:]
    model, proc = tiny_image_classifier()
    before = (predict_images(model, proc, test).argmax(1) == label_codes(test, 'mvsa', col='image_label')).mean()
    model = train_image_classifier(model, proc, train, tmp_path / 'o', labels='mvsa', epochs=15, learning_rate=3e-3,
                                   batch_size=16, disable_tqdm=True)
    after = (predict_images(model, proc, test).argmax(1) == label_codes(test, 'mvsa', col='image_label')).mean()
    print('accuracy before', before, 'after', after)
    assert after >= 0.9 and after > before

def test_reload_with_new_head(tmp_path):
    model, proc = tiny_image_classifier(num_labels=3)
    model.save_pretrained(tmp_path); proc.save_pretrained(tmp_path)
    m5, p5 = load_image_classifier(str(tmp_path), 'p5')
    assert m5.config.num_labels == 5 and m5.config.id2label[4] == 'positive'
    assert predict_images(m5, p5, []).shape == (0, 5)

def test_bad_inputs(tmp_path):
    model, proc = tiny_image_classifier()
    with pytest.raises(ValueError, match="row 1 \\(id 'b'\\), column 'label'"):
        label_codes(pd.DataFrame(dict(id=['a', 'b'], label=['positive', 'meh'])), 'mvsa')
    with pytest.raises(ValueError, match='out of range'):
        label_codes(pd.DataFrame(dict(label=[5])), 'mvsa')
    with pytest.raises(ValueError, match='lacks column'):
        train_image_classifier(model, proc, pd.DataFrame(dict(path=['x'])), tmp_path)
    (tmp_path / 'bad.jpg').write_bytes(b'nope')
    with pytest.raises(ValueError, match='bad.jpg: not a readable image'):
        predict_images(model, proc, [tmp_path / 'bad.jpg'])
    Image.new('LA', (9, 9)).save(tmp_path / 'la.png')
    assert predict_images(model, proc, [tmp_path / 'la.png']).shape == (1, 3)

# --- the image-only routes through the one engine ----------------------------------------------------------------

def demo_rows(tmp_path, n=50, seed=2):
    demo = demo_images(tmp_path / 'd', n=n, seed=seed)
    return demo.assign(label=label_codes(demo, 'mvsa', col='image_label'))

def test_image_classifier_route_chooses_its_epoch_on_validation(tmp_path):
    from mllmsent.image_baseline import ImageClassifier
    from mllmsent.splits import nested_folds
    from mllmsent.crossval import cross_validate
    rows = demo_rows(tmp_path, n=60)
    split = nested_folds(rows, k=3, val_fraction=0.2, seed=0)
    res = cross_validate(ImageClassifier('mvsa', epochs=6, batch_size=16), rows, split, progress=False)
    print(res.per_fold[['fold', 'accuracy', 'best_epoch', 'val_accuracy']])
    assert res.per_fold.accuracy.mean() >= 0.7
    assert res.curves.groupby('fold').size().tolist() == [6, 6, 6]                  # one point per epoch
    assert {'val_accuracy', 'monitor_accuracy'} <= set(res.curves.columns)           # test rows monitored, not chosen on
    for k, c in res.curves.groupby('fold'):                                          # the chosen epoch is validation's best
        assert c.set_index('epoch').val_accuracy[res.per_fold.set_index('fold').best_epoch[k]] == c.val_accuracy.max()
    # the weights kept are the chosen epoch's (not the last epoch's): validation accuracy is reproduced exactly
    tr, va = split[(split.split == 1) & (split.part == 'train')].id, split[(split.split == 1) & (split.part == 'val')].id
    by_id = rows.set_index('id', drop=False)
    route = ImageClassifier('mvsa', epochs=6, batch_size=16, learning_rate=1e-2).fit(by_id.loc[tr], by_id.loc[va])
    acc = (route.predict_proba(by_id.loc[va]).argmax(1) == by_id.loc[va].label.to_numpy()).mean()
    assert acc == route.chosen['val_accuracy'], (acc, route.chosen, route.curve)

def test_direct_mllm_route_zero_shot(tmp_path):
    from mllmsent.direct_sentiment import DirectSentiment
    from mllmsent.splits import nested_folds
    from mllmsent.crossval import cross_validate
    rows = demo_rows(tmp_path, n=20)
    split = nested_folds(rows, k=2, val_fraction=0.2, seed=0)
    route = DirectSentiment('mvsa')
    res = cross_validate(route, rows, split, progress=False)
    assert len(res.predictions) == 20 and res.predictions.filter(like='prob_').sum(1).round(6).eq(1).all()
    loaded = route.model
    gen = cross_validate(DirectSentiment('mvsa', method='generate', max_new_tokens=2), rows, split, progress=False)
    assert 'n_unparsed' in gen.per_fold and gen.per_fold.n_unparsed.between(0, 10).all()
    assert route.model is loaded                                                     # loaded once, for every fold
    with pytest.raises(ValueError, match="method='guess'"): DirectSentiment('mvsa', method='guess')
