"Image baseline (MLLMsent's Swin row) on a tiny Swin: learns colours, bad labels/images named, hub-style reload with a new head."
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
