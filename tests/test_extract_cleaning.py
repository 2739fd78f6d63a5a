"""The extract stage's cleaning of single values: markup, whitespace, punctuation, drop reasons."""

import pytest

from components.common.errors import UserError
from components.extract.cleaning import (
    DROP_REASONS,
    BadRow,
    Cleaner,
    Deduplicator,
    clean_passage,
    strip_markup,
)


@pytest.mark.parametrize("raw, expected", [
    ("<p>光合作用</p><p>发生在叶绿体中</p>", "光合作用 发生在叶绿体中"),
    ("重点：<b>牛顿</b>第二定律", "重点：牛顿第二定律"),
    ("Reading<br/>tip", "Reading tip"),
    ("A&amp;B&nbsp;组&lt;p&gt;", "A&B 组<p>"),
    ("若 a<b，则 c>d 成立", "若 a<b，则 c>d 成立"),
    ("x<3 且 y>2", "x<3 且 y>2"),
    ("<div>注意</div><script>alert(1)</script><style>p{}</style>结束", "注意 结束"),
    ("<!-- 编辑备注 -->正文内容", "正文内容"),
])
def test_markup_is_removed_and_text_kept(raw, expected):
    assert clean_passage(raw, normalize_punctuation=False) == expected


def test_text_without_markup_is_not_parsed():
    text = "CO2 + H2O → H2CO3 & x^2+1"
    assert strip_markup(text) is text


@pytest.mark.parametrize("raw", [
    "第一行\n第二行", "第一行\r\n第二行", "第一行\r第二行", "第一行\u3000\u3000第二行",
    "第一行\u2028第二行", "第一行\u2029第二行", "第一行\t \xa0第二行", "第一行\x0b\x0c第二行",
    "第一行\u0085第二行",
])
def test_every_whitespace_run_becomes_one_space(raw):
    assert clean_passage(raw) == "第一行 第二行"


def test_invisible_characters_are_removed_and_ends_stripped():
    assert clean_passage("\ufeff  零宽\u200b空格\x00测试  \u3000") == "零宽空格测试"


def test_punctuation_missing_from_bert_vocab_is_mapped_one_for_one():
    raw = "“之”与‘而’……破折号——还有–短横"
    cleaned = clean_passage(raw, normalize_punctuation=True)
    assert cleaned == "\"之\"与'而'⋯⋯破折号--还有-短横"
    assert len(cleaned) == len(raw)
    assert clean_passage(raw, normalize_punctuation=False) == raw


def test_punctuation_mapping_targets_are_in_the_real_vocab(reference_vocab):
    from components.extract.cleaning import PUNCTUATION_MAP

    vocab = set(reference_vocab.read_text(encoding="utf-8").split("\n"))
    for source, target in PUNCTUATION_MAP.items():
        assert chr(source) not in vocab, f"{chr(source)!r} is in the vocab; no need to map it"
        assert target in vocab, f"{target!r} is not in the vocab"


def test_rows_of_only_invisible_characters_are_empty_not_markup():
    cleaner = Cleaner(min_chars=1)
    for value in ("\x00\x07\u200b", "\ufeff \x1b", "<b>\x00</b>", "<p>&nbsp;</p>"):
        assert cleaner.clean(value) is None
    assert (cleaner.dropped["empty"], cleaner.dropped["markup_only"]) == (2, 2)


def test_emoji_and_latin_survive():
    assert clean_passage("加油💪 keep going 😀 CO₂") == "加油💪 keep going 😀 CO₂"


def test_cleaner_counts_each_drop_reason():
    cleaner = Cleaner(min_chars=5, max_chars=12)
    values = [None, "", "  \n ", "<br/>&nbsp;", "短", "这是一条足够长的句子",
              "这是一条足够长的句子", "<p>这是一条足够长的句子</p>", "学习计划表".encode(), 12345,
              "！？……——。。", "😀😀😀😀😀", b"\xe5\xad\xa6\xff\xfe bad",
              "这一条句子已经超过了十二个字", BadRow("invalid_utf8", "line 7 of a.txt")]
    kept = [cleaner.clean(v) for v in values]
    assert kept == [None, None, None, None, None, "这是一条足够长的句子", None, None, "学习计划表",
                    "12345", None, None, None, None, None]
    assert cleaner.dropped == {"null": 1, "empty": 2, "markup_only": 1, "no_text": 2,
                               "too_short": 1, "duplicate": 2, "invalid_utf8": 2, "too_long": 1}
    assert set(cleaner.dropped) == set(DROP_REASONS)
    assert (cleaner.rows_read, cleaner.rows_kept) == (15, 3)
    assert cleaner.characters == len("这是一条足够长的句子") + 5 + 5
    assert cleaner.first_bad == "row 13: invalid UTF-8 at byte offset 3 of the value"


def test_bad_fraction_is_checked_against_all_rows_read():
    cleaner = Cleaner(max_bad_fraction=0.25)
    for value in ["第一条正常的长句子内容", "第二条正常的长句子内容", "第三条正常的长句子内容",
                  b"\xff bad bytes in here"]:
        cleaner.clean(value)
    cleaner.check_bad_fraction("t.db")  # 1 of 4 is not more than 25 %
    cleaner.clean("学" * 2_000_001)
    with pytest.raises(UserError, match=r"^2 of 5 rows are bad \(1 invalid_utf8, 1 too_long; "
                                        r"40.0 % > --max_bad_fraction 0.25\); first: row 4: "
                                        r"invalid UTF-8 at byte offset 0 of the value \(t.db\)"):
        cleaner.check_bad_fraction("t.db")


def test_dedup_can_be_switched_off():
    cleaner = Cleaner(min_chars=1, dedup=False)
    assert [cleaner.clean("同一句话") for _ in range(3)] == ["同一句话"] * 3


def test_deduplicator_distinguishes_near_duplicates():
    dedup = Deduplicator()
    assert dedup.is_new("答案是 A")
    assert dedup.is_new("答案是 B")
    assert not dedup.is_new("答案是 A")


def test_bytes_with_invalid_utf8_follow_the_error_policy():
    assert Cleaner(errors="strict").clean(b"\xff bad bytes here") is None
    assert Cleaner(errors="replace").clean(b"\xff bad bytes here") == "\ufffd bad bytes here"
