"""Characters the tokenizer deletes are deleted before segmentation: inserting them anywhere in a
passage changes neither its tokens nor its whole-word masking groups (they used to cut jieba
words in two: `教\u200d育部门` → `教`, `\u200d`, `育`, `部门`)."""

import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from components.common.text import FORMAT_AND_CONTROL, KEPT_CONTROLS, remove_invisible
from components.extract.cleaning import clean_passage
from components.pretraining_data import worker
from components.pretraining_data.arguments import PretrainingDataArguments
from tests.helpers_faults import SAMPLE_DIR

# What real text carries: joiners, soft hyphens, bidi marks and isolates, the Mongolian vowel
# separator, variation selectors, byte-order marks, a C1 control.
INVISIBLE = ["\u200d", "\u2060", "\u00ad", *map(chr, range(0x202A, 0x202F)),
             *map(chr, range(0x2066, 0x206A)), "\u180e", "\ufe0f", "\u200b", "\ufeff", "\x9b"]
PASSAGES = [line for line in (SAMPLE_DIR / "corpus.txt").read_text(encoding="utf-8").splitlines()
            if 10 <= len(line) <= 200][:60]


def test_the_written_out_ranges_are_unicodes_format_and_control_characters():
    scanned = {chr(c) for c in range(sys.maxunicode + 1)
               if unicodedata.category(chr(c)) in ("Cc", "Cf")} - set(KEPT_CONTROLS)
    assert set(FORMAT_AND_CONTROL) == scanned


def test_extract_deletes_them_and_keeps_whitespace_controls_as_spaces():
    assert clean_passage("教\u200d育\u2060部\u00ad门\u202e考\u180e试") == "教育部门考试"
    assert clean_passage("第一\x0c第二\x85第三") == "第一 第二 第三"
    assert remove_invisible("\ufeff题\u200b目") == "题目"


def tokens_and_groups(passages):
    settings_ = PretrainingDataArguments(input_file=[], vocab_file=str(SAMPLE_DIR / "vocab.txt"))
    worker.init_process(settings_)
    ids, continues, counts = worker._tokens(passages, settings_, worker._Clock())
    return ids.tolist(), continues.tolist(), counts.tolist()


@settings(max_examples=40, derandomize=True, database=None, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(PASSAGES) - 1), st.integers(0, 10_000),
                          st.sampled_from(INVISIBLE)), min_size=1, max_size=12))
def test_inserted_invisible_characters_change_no_token_and_no_masking_group(insertions):
    passages = list(PASSAGES)
    for index, position, char in insertions:
        passage = passages[index]
        cut = position % (len(passage) + 1)
        passages[index] = passage[:cut] + char + passage[cut:]
    assert tokens_and_groups(passages) == tokens_and_groups(PASSAGES)
