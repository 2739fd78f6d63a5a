"""The pretraining_data CLI and library: determinism, workers, --pack, fan-out merge, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers_pretraining_data import directory_bytes, original_ids, parse_dir

from components.pretraining_data.arguments import PretrainingDataArguments
from components.pretraining_data.create import create_pretraining_data
from components.pretraining_data.merge import merge_pretraining_data

PASSAGES = 200


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory, reference_corpus):
    path = tmp_path_factory.mktemp("corpus") / "passages.txt"
    with open(reference_corpus, encoding="utf-8") as f:
        lines = [line for _, line in zip(range(PASSAGES), f, strict=False)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _make(corpus, vocab, out, **kwargs):
    kwargs.setdefault("shard_size_mb", 0.02)
    kwargs.setdefault("num_workers", 1)
    return create_pretraining_data(PretrainingDataArguments(
            input_file=str(corpus), output_dir=str(out),
                                   vocab_file=str(vocab), **kwargs))


def _cli(*args, cwd=None):
    env = dict(os.environ, EDU_MLM_NO_PROGRESS="1")
    return subprocess.run([sys.executable, "-m", "components.pretraining_data", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory, small_corpus, reference_vocab):
    out = tmp_path_factory.mktemp("one") / "out"
    return out, _make(small_corpus, reference_vocab, out)


def test_reruns_and_worker_counts_give_identical_bytes(tmp_path, one_worker, small_corpus,
                                                       reference_vocab):
    out, manifest = one_worker
    assert len(manifest["train_files"]) > 2
    again = _make(small_corpus, reference_vocab, tmp_path / "again")
    two = _make(small_corpus, reference_vocab, tmp_path / "two", num_workers=2)
    first = directory_bytes(out)
    assert first == directory_bytes(tmp_path / "again") == directory_bytes(tmp_path / "two")
    assert again["counts"] == two["counts"] == manifest["counts"]
    other_seed = _make(small_corpus, reference_vocab, tmp_path / "seed", random_seed=7)
    assert directory_bytes(tmp_path / "seed") != first
    assert other_seed["train_instances"] > 0


def test_fan_out_parts_merge_into_the_single_run(tmp_path, one_worker, small_corpus,
                                                 reference_vocab):
    out, manifest = one_worker
    parts = [tmp_path / f"part{i}" for i in range(3)]
    for i, part in enumerate(parts):
        _make(small_corpus, reference_vocab, part, shard_index=i, num_shards=3)
    merged = merge_pretraining_data([str(p) for p in reversed(parts)], str(tmp_path / "merged"))
    single, joined = directory_bytes(out), directory_bytes(tmp_path / "merged")
    assert {k: v for k, v in joined.items() if k.startswith("train")} == \
        {k: v for k, v in single.items() if k.startswith("train")}
    heldout = [b"".join(v for k, v in sorted(d.items()) if k.startswith("heldout"))
               for d in (single, joined)]
    assert heldout[0] == heldout[1]
    assert merged["counts"] == manifest["counts"]
    assert merged["padding_fraction"] == manifest["padding_fraction"]
    on_disk = json.loads((tmp_path / "merged" / "manifest.json").read_text())
    assert on_disk["train_files"] == sorted(k for k in joined if k.startswith("train"))


def test_merge_refuses_parts_of_different_runs(tmp_path, small_corpus, reference_vocab):
    from components.common.errors import UserError

    a = _make(small_corpus, reference_vocab, tmp_path / "a", shard_index=0, num_shards=2)
    _make(small_corpus, reference_vocab, tmp_path / "b", shard_index=1, num_shards=2,
          dupe_factor=2)
    assert a["part"]["num_shards"] == 2
    with pytest.raises(UserError, match="dupe_factor"):
        merge_pretraining_data([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()


def test_pack_fills_rows_with_passages_separated_by_sep(tmp_path, small_corpus, reference_vocab):
    unpacked = _make(small_corpus, reference_vocab, tmp_path / "unpacked", pack=False)
    packed = _make(small_corpus, reference_vocab, tmp_path / "packed", pack=True,
                   short_seq_prob=0.0)
    assert packed["padding_fraction"] < 0.03 < 0.2 < unpacked["padding_fraction"]
    assert packed["alternative_padding_fraction"] > 0.2
    assert packed["padding_fraction_packed"] == packed["padding_fraction"]
    assert packed["padding_fraction_unpacked"] == packed["alternative_padding_fraction"]
    assert unpacked["padding_fraction_unpacked"] == unpacked["padding_fraction"]
    parsed = parse_dir(tmp_path / "packed")
    ids, real = original_ids(parsed), parsed["input_mask"].sum(axis=1)
    sep, cls = 102, 101
    inner_sep = (ids[:, 1:-1] == sep) & (np.arange(1, 127) < real[:, None] - 1)
    assert inner_sep.any(axis=1).mean() > 0.5
    assert not ((ids[:, :-1] == sep) & (ids[:, 1:] == sep)).any()
    assert (ids[:, 1] != sep).all()
    masked_positions = parsed["masked_lm_positions"][parsed["masked_lm_weights"] > 0]
    masked_rows = np.nonzero(parsed["masked_lm_weights"] > 0)[0]
    assert (ids[masked_rows, masked_positions] != sep).all()
    assert (ids[:, 0] == cls).all()


def test_latin_and_digits_inside_chinese_words(tmp_path, reference_vocab):
    corpus = tmp_path / "mixed.txt"
    corpus.write_text("\n".join([
        "我买了iPhone12手机和AB超检查单，还有3D打印的α粒子模型。" * 3,
        "用Python3编程求解x²+2x−3=0，答案是x=1或x=−3，café里讨论[SEP][MASK]。",
        "ＡＢＣ全角字母与ｉＰａｄ，电压220V，速度3.5m/s，面积5㎡，T恤B超X光。",
        "😀表情符号和\u200b零宽字符以及很长的单词" + "a" * 150 + "结束。",
    ]) + "\n", encoding="utf-8")
    manifest = _make(corpus, reference_vocab, tmp_path / "out", heldout_fraction=0.0, pack=False)
    parsed = parse_dir(tmp_path / "out")
    assert len(parsed["input_ids"]) == manifest["train_instances"] > 0
    vocab = [line.strip() for line in open(reference_vocab, encoding="utf-8")]
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(str(reference_vocab), lowercase=True)
    # Google's tokenizer reads the literal text "[SEP]" as "[", "sep", "]"; spaced out, the
    # reference tokenizer (which matches its special tokens in text) does the same.
    expected = {tuple(tokenizer.encode(line.replace("[SEP][MASK]", "[ SEP ] [ MASK ]"),
                                       add_special_tokens=False).ids)
                for line in corpus.read_text(encoding="utf-8").splitlines()}
    ids, real = original_ids(parsed), parsed["input_mask"].sum(axis=1)
    specials = [vocab.index(t) for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")]
    inner = np.arange(ids.shape[1])[None, :]
    inside = (inner > 0) & (inner < real[:, None] - 1)
    assert not np.isin(ids[inside], specials).any()
    for row in range(len(ids)):
        content = tuple(ids[row, 1:real[row] - 1])
        assert any(content == e[:len(content)] or _contains(e, content) for e in expected)
    assert (parsed["masked_lm_ids"] < len(vocab)).all()


def _contains(sequence, part):
    return any(sequence[i:i + len(part)] == part for i in range(len(sequence) - len(part) + 1))


def test_output_file_flag_and_corpus_directory(tmp_path, small_corpus, reference_vocab):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / "part-00000.txt").write_text(small_corpus.read_text(encoding="utf-8"),
                                               encoding="utf-8")
    (corpus_dir / "manifest.json").write_text('{"kind": "corpus"}', encoding="utf-8")
    out = tmp_path / "prepare_data_tf"
    result = _cli("--input_file", corpus_dir, f"--output_file={out}/pre_data_article.tfrecord",
                  f"--vocab_file={reference_vocab}", "--max_seq_length=128",
                  "--max_predictions_per_seq=20", "--masked_lm_prob=0.15",
                  "--random_seed=123456", "--do_whole_word_mask=True", "--dupe_factor=2",
                  "--num_workers=1")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dupe_factor"] == 2 and manifest["train_instances"] > 0
    assert all((out / name).exists() for name in manifest["train_files"])


def _vocab_without_mask(tmp_path, reference_vocab):
    path = tmp_path / "vocab_no_mask.txt"
    lines = reference_vocab.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(t for t in lines if t != "[MASK]") + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("case, message", [
    ("empty corpus", "corpus is empty"),
    ("blank corpus", "no passages"),
    ("missing vocab", "vocab file not found"),
    ("vocab without [MASK]", "vocab has no [MASK]"),
    ("max_predictions > max_seq_length", "larger than --max_seq_length"),
    ("masked_lm_prob out of range", "--masked_lm_prob=1.5 is out of range"),
    ("unwritable output", "output"),
    ("invalid UTF-8", "invalid UTF-8 at byte offset 13"),
    ("missing input", "input file not found"),
])
def test_bad_input_one_line_error_no_output(tmp_path, small_corpus, reference_vocab, case,
                                            message):
    corpus, vocab = small_corpus, reference_vocab
    out = tmp_path / "out"
    extra = []
    if case == "empty corpus":
        corpus = tmp_path / "empty.txt"
        corpus.write_bytes(b"")
    elif case == "blank corpus":
        corpus = tmp_path / "blank.txt"
        corpus.write_text("\n  \n\u3000\n", encoding="utf-8")
    elif case == "missing vocab":
        vocab = tmp_path / "nope" / "vocab.txt"
    elif case == "vocab without [MASK]":
        vocab = _vocab_without_mask(tmp_path, reference_vocab)
    elif case == "max_predictions > max_seq_length":
        extra = ["--max_seq_length=16", "--max_predictions_per_seq=20"]
    elif case == "masked_lm_prob out of range":
        extra = ["--masked_lm_prob=1.5"]
    elif case == "unwritable output":
        blocker = tmp_path / "a_file"
        blocker.write_text("x")
        out = blocker / "out"
    elif case == "invalid UTF-8":
        corpus = tmp_path / "latin1.txt"
        corpus.write_bytes("第一行\n".encode() + b"caf\xe9\n")
        extra = ["--num_workers=2", "--shard_size_mb=0.000005"]  # fails inside a pool worker
    elif case == "missing input":
        corpus = tmp_path / "missing-*.txt"
    result = _cli("--input_file", corpus, "--output_dir", out, "--vocab_file", vocab,
                  "--num_workers=1", *extra)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    if out.parent.is_dir():
        assert [p for p in os.listdir(out.parent) if p.startswith("out.")] == []
