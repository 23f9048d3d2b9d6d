"Prompt rendering and answer parsers (mllmsent.prompts): odd answers never raise."
import pytest
from mllmsent.core import get_task
from mllmsent.prompts import (render_prompt, caption_prompt, image_prompt, emollms_prompt, EMOLLMS_TEMPLATES,
                              parse_number, parse_label, parse_label_list, Parsed, has_chat_template)
from mllmsent.models import tiny_tokenizer


@pytest.fixture(scope='module')
def chat_tok(): return tiny_tokenizer(["Text: hello world positive negative"] * 10, vocab_size=300, chat_template=True)

@pytest.fixture(scope='module')
def plain_tok(): return tiny_tokenizer(["Text: hello world positive negative"] * 10, vocab_size=300)


def test_render_plain_and_chat(chat_tok, plain_tok):
    assert not has_chat_template(plain_tok) and has_chat_template(chat_tok)
    assert render_prompt(plain_tok, "Q") == "Human: \nQ\n\nAssistant: "
    c = render_prompt(chat_tok, "Q", system="S")
    assert c == "<|system|>\nS<|end|>\n<|user|>\nQ<|end|>\n<|assistant|>\n"
    assert render_prompt(chat_tok, "Q", chat=False) == "Human: \nQ\n\nAssistant: "
    assert render_prompt(chat_tok, "Q", images=2).count('<image>') == 2
    with pytest.raises(ValueError, match='no chat_template'): render_prompt(plain_tok, "Q", chat=True)


def test_processor_chat_template():
    vm = pytest.importorskip('mllmsent.vision_models')
    _, proc = vm.tiny_llava()
    p = render_prompt(proc, "What is the sentiment?", images=1)
    assert '<image>' in p and p.rstrip().endswith('ASSISTANT:')


def test_templates_cover_every_emollms_task():
    for name in EMOLLMS_TEMPLATES:
        t = emollms_prompt(name, "so happy today", emotion='joy')
        assert "so happy today" in t and '{' not in t
    assert caption_prompt("x", get_task('p5')).count('slightly') == 2
    assert 'neutral, negative or positive' in image_prompt('p3')


@pytest.mark.parametrize('text,lo,hi,value,ok', [
    ("0.75", 0, 1, 0.75, True), (">>0.896", 0, 1, 0.896, True), ("-2.5 (negative)", -4, 4, -2.5, True),
    ("score: .5", 0, 1, 0.5, True), ("7", 0, 1, 1.0, True), ("-9", -4, 4, -4.0, True), ("1e-1", 0, 1, 0.1, True),
    ("", 0, 1, None, False), ("no idea", 0, 1, None, False), (None, 0, 1, None, False), ("nan", 0, 1, None, False)])
def test_parse_number(text, lo, hi, value, ok):
    p = parse_number(text, lo, hi)
    assert p.ok == ok and (p.value == pytest.approx(value) if ok else p.value is None)
    assert p.raw == ('' if text is None else text)


@pytest.mark.parametrize('text,expected', [
    ("positive", 'positive'), ("POSITIVE!", 'positive'), ("The answer: slightly positive.", 'slightly positive'),
    ("slightly_negative", 'slightly negative'), ("neg", None), ("", None), (None, None), ("positively", None),
    ("negative or positive?", 'negative')])
def test_parse_label_p5(text, expected):
    p = parse_label(text, 'p5')
    assert p.value == expected and p.ok == (expected is not None)


def test_parse_label_codes_and_v_oc_answers():
    voc = get_task('v_oc').labels
    assert parse_label("-3: very negative emotional state can be inferred", voc).value == 'very negative'
    assert parse_label("0: neutral or mixed emotional state", voc).value == 'neutral or mixed'
    assert parse_label("-2", voc, aliases={'-2': 'moderately negative', '2': 'moderately positive'}).value == 'moderately negative'
    assert parse_label("2", voc, aliases={'-2': 'moderately negative', '2': 'moderately positive'}).value == 'moderately positive'
    assert parse_label("0: no anger can be inferred", 'ei_oc').value == 'no'


def test_parse_label_list():
    assert parse_label_list("anger, disgust.", 'e_c') == Parsed(('anger', 'disgust'), "anger, disgust.", True)
    assert parse_label_list("Trust and JOY; joy again", 'e_c').value == ('joy', 'trust')
    assert parse_label_list("neutral or no emotion.", 'e_c').value == ()
    assert parse_label_list("", 'e_c').ok is False
    assert parse_label_list(None, 'goemotions').ok is False
    assert parse_label_list("surprise, neutral", 'goemotions').value == ('surprise', 'neutral')
