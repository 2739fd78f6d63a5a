"""Shared pieces of the fault suite: running a stage's CLI, judging its error, bad inputs on disk.

`run_stage_cli` runs `python -m components.<stage>` in a subprocess. `run_stage_in_process` runs
the same `__main__` module with runpy in the test process (TensorFlow is then imported once per
session instead of once per case, about 10 s each on this machine); everything from argv parsing
to the exit code is the CLI's own code, only the interpreter start is shared.
"""

import contextlib
import functools
import json
import os
import pathlib
import runpy
import shutil
import sqlite3
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
EXIT_USER_ERROR = 2
QUIET_ENV = {"EDU_MLM_NO_PROGRESS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def stage_env(**extra):
    env = dict(os.environ, **QUIET_ENV, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_stage_cli(stage, args, timeout=300, **popen_kwargs):
    """(exit code, stderr) of `python -m components.<stage> ARGS` in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-m", f"components.{stage}", *args],
                            capture_output=True, text=True, env=stage_env(), cwd=REPO_ROOT,
                            timeout=timeout, **popen_kwargs)
    return result.returncode, result.stderr


def run_stage_in_process(stage, args, capfd, monkeypatch):
    """(exit code, stderr) of the stage's `__main__` run in this process with `args`."""
    for key, value in QUIET_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", [f"components.{stage}", *args])
    capfd.readouterr()
    code = 0
    try:
        runpy.run_module(f"components.{stage}", run_name="__main__", alter_sys=False)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    return code, capfd.readouterr().err


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_one_line_user_error(code, stderr, must_name):
    """Exit code 2, exactly one `error:` line naming every string in `must_name`, no traceback."""
    assert code == EXIT_USER_ERROR, f"exit code {code}, stderr:\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr[-3000:]
    last = [line for line in stderr.splitlines() if line.strip()][-1]
    assert last == lines[0], f"the error line is not the last thing printed:\n{stderr[-3000:]}"
    for name in must_name:
        assert name in lines[0], f"{name!r} not named in: {lines[0]}"
    return lines[0]


def entries_named_like(directory, name):
    """`name` itself and its temporary or old siblings (`name.tmp-*`, `name.old-*`)."""
    if not os.path.isdir(directory):
        return []
    return sorted(e for e in os.listdir(directory) if e == name or e.startswith(name + "."))


def tree_bytes(directory):
    """{relative path: bytes} of every file under a directory."""
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = f.read()
    return out


def write_config(path, **changes):
    with open(SAMPLE_DIR / "bert_config.json", encoding="utf-8") as f:
        config = json.load(f)
    config.update(changes)
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


class BadInputs:
    """Bad (and a few good) inputs on disk, each made on first use under `root`.

    Attribute names are the `{placeholders}` of the case table; `str.format_map(inputs)` fills
    them in. Model and pretraining-data inputs are built only when a case needs them.
    """

    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __getitem__(self, key):
        return str(getattr(self, key))

    def _file(self, name, data):
        path = self.root / name
        if not path.exists():
            path.write_bytes(data)
        return path

    vocab = SAMPLE_DIR / "vocab.txt"
    config = SAMPLE_DIR / "bert_config.json"
    missing = property(lambda self: self.root / "missing.txt")
    empty = property(lambda self: self._file("empty.txt", b""))
    blank = property(lambda self: self._file("blank.txt", b"\n \n\t\r\n\xe3\x80\x80\n"))
    punctuation = property(lambda self: self._file(
        "punctuation.txt", "。。。。！！！！？？？？\n……——……——……\n!!!???...,,,;;;\n".encode()))
    a_file = property(lambda self: self._file("a_file", b"not a directory\n"))
    bad_utf8 = property(lambda self: self._file(
        "bad_utf8.txt", "今天".encode() + b"\xff\xfe" + "复习二次函数的图像与性质。\n".encode()))
    hangul = property(lambda self: self._file(  # only characters the demo vocab lacks
        "hangul.txt", "".join(f"한국어 문장 {c} 입니다\n" for c in "가나다라마바사").encode()))
    invisible = property(lambda self: self._file(
        "invisible.txt", "\u200b\u200b\n\u200d\ufeff\u200b\n".encode()))
    no_mask_vocab = property(lambda self: self._file(
        "no_mask_vocab.txt", b"".join(line for line in self.vocab.read_bytes().splitlines(True)
                                      if line.strip() != b"[MASK]")))
    latin1_vocab = property(lambda self: self._file(
        "latin1_vocab.txt", self.vocab.read_bytes() + "caf\xe9\n".encode("latin-1")))
    short_vocab = property(lambda self: self._file(
        "short_vocab.txt", b"".join(self.vocab.read_bytes().splitlines(True)[:-7])))
    bad_json = property(lambda self: self._file("bad_json.json", b'{"vocab_size": 1797,'))
    config_vocab_1000 = property(lambda self: self._config("config_vocab_1000.json",
                                                           vocab_size=1000))
    config_heads = property(lambda self: self._config("config_heads.json", num_attention_heads=3))
    config_h32 = property(lambda self: self._config("config_h32.json", hidden_size=32,
                                                    intermediate_size=64))

    # The downstream stage's labelled files (data/sample/labelled.jsonl and broken ones).
    labelled = SAMPLE_DIR / "labelled.jsonl"
    labelled_one_class = property(lambda self: self._labelled(
        "labelled_one_class.jsonl", [("复习二次函数的性质。", "数学")] * 6))
    labelled_eval_unseen = property(lambda self: self._labelled(
        "labelled_eval_unseen.jsonl", [("价格围绕价值上下波动。", "政治"),
                                       ("求函数的周期。", "数学")]))
    labelled_empty_text = property(lambda self: self._labelled(
        "labelled_empty_text.jsonl", [("求函数的周期。", "数学"), ("光的折射。", "物理"),
                                      ("", "数学"), ("读图。", "地理"), ("  ", "物理")]))
    labelled_bad_json = property(lambda self: self._file(
        "labelled_bad_json.jsonl", '{"text": "求函数的周期。", "label": "数学"}\n'
        '{"text": "光的折射。", "label": \n'.encode()))
    labelled_short_row = property(lambda self: self._file(
        "labelled_short_row.tsv", "text\ttopic\tlabel\n求函数的周期。\t周期\t数学\n"
        "光的折射。\t物理\n".encode()))
    labelled_bad_utf8 = property(lambda self: self._file(
        "labelled_bad_utf8.csv", "text,label\n求函数的周期。,数学\n".encode() + b"\xff\xfe,x\n"))

    @functools.cached_property
    def labelled_db(self):
        """`labelled` as a SQLite table questions(id, body, subject)."""
        path = self.root / "labelled.db"
        rows = [json.loads(line) for line in self.labelled.read_text(encoding="utf-8").splitlines()]
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE questions (id INTEGER PRIMARY KEY, body TEXT, "
                           "subject TEXT)")
        connection.executemany("INSERT INTO questions (body, subject) VALUES (?, ?)",
                               [(r["text"], r["label"]) for r in rows])
        connection.commit()
        connection.close()
        return path

    def _labelled(self, name, rows):
        return self._file(name, "".join(json.dumps({"text": text, "label": label},
                                                   ensure_ascii=False) + "\n"
                                        for text, label in rows).encode())

    def _config(self, name, **changes):
        path = self.root / name
        if not path.exists():
            write_config(path, **changes)
        return path

    @functools.cached_property
    def text(self):
        """40 passages of the project's sample corpus."""
        lines = (SAMPLE_DIR / "corpus.txt").read_text(encoding="utf-8").splitlines()[:40]
        return self._file("text.txt", ("\n".join(lines) + "\n").encode())

    @functools.cached_property
    def db(self):
        path = self.root / "edu.db"
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE passages (id INTEGER PRIMARY KEY, body)")
        rows = [(f"本节课复习了二次函数的图像与性质，第{i}讲。",) for i in range(20)]
        rows.append(("这一行的编码坏了".encode()[:10] + b"\xff" + "结尾".encode(),))
        connection.executemany("INSERT INTO passages (body) VALUES (?)", rows)
        connection.commit()
        connection.close()
        return path

    @functools.cached_property
    def corpus(self):
        from components.extract.arguments import ExtractArguments
        from components.extract.corpus import extract_corpus

        out = self.root / "corpus"
        extract_corpus(ExtractArguments(output_dir=str(out), input_file=[str(self.text)]))
        return out

    @functools.cached_property
    def no_manifest(self):
        out = self.root / "corpus_no_manifest"
        shutil.copytree(self.corpus, out)
        (out / "manifest.json").unlink()
        return out

    @functools.cached_property
    def data32(self):
        return self._pretraining_data("data32", max_seq_length=32, max_predictions_per_seq=5)

    @functools.cached_property
    def data256(self):
        return self._pretraining_data("data256", max_seq_length=256, max_predictions_per_seq=5)

    def _pretraining_data(self, name, **params):
        from components.pretraining_data.arguments import PretrainingDataArguments
        from components.pretraining_data.create import create_pretraining_data

        out = self.root / name
        create_pretraining_data(PretrainingDataArguments(
                input_file=str(self.text), output_dir=str(out),
                                vocab_file=str(self.vocab), dupe_factor=1, num_workers=1,
                                heldout_fraction=0.3, **params))
        return out

    @functools.cached_property
    def data_no_manifest(self):
        out = self.root / "data_no_manifest"
        shutil.copytree(self.data32, out)
        (out / "manifest.json").unlink()
        return out

    @functools.cached_property
    def empty_dir(self):
        out = self.root / "empty_dir"
        out.mkdir()
        return out

    @functools.cached_property
    def model(self):
        from components.bert.arguments import BertInitArguments
        from components.bert.init import init_random_model

        out = self.root / "model"
        init_random_model(BertInitArguments(str(self.config), str(self.vocab), str(out)))
        return out

    @functools.cached_property
    def model_no_data(self):
        return self._model_without("model_no_data", ".data-00000-of-00001")

    @functools.cached_property
    def model_no_index(self):
        return self._model_without("model_no_index", ".index")

    @functools.cached_property
    def teacher(self):
        """`model` converted to transformers: the distiller's teacher."""
        from components.convert.arguments import ConvertArguments
        from components.convert.core import convert

        out = self.root / "teacher"
        convert(ConvertArguments(tf_checkpoint_path=str(self.model), output_dir=str(out)))
        return out

    @functools.cached_property
    def teacher_gpt2(self):
        out = self.root / "teacher_gpt2"
        shutil.copytree(self.teacher, out)
        config = json.loads((out / "config.json").read_text())
        (out / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
        return out

    @functools.cached_property
    def data_other_vocab(self):
        """data32 as if made with another vocab (what its manifest's vocab_sha256 says)."""
        out = self.root / "data_other_vocab"
        shutil.copytree(self.data32, out)
        manifest = json.loads((out / "manifest.json").read_text())
        (out / "manifest.json").write_text(json.dumps({**manifest, "vocab_sha256": "0" * 64}))
        return out

    @functools.cached_property
    def teacher_small_vocab_size(self):
        """`teacher` whose config.json says a smaller vocab_size than its vocab.txt has (its
        weights cut to match, so that it loads)."""
        import transformers

        out = self.root / "teacher_small_vocab_size"
        shutil.copytree(self.teacher, out)
        model = transformers.BertForMaskedLM.from_pretrained(out)
        model.resize_token_embeddings(model.config.vocab_size - 10)
        model.save_pretrained(out)
        return out

    def _model_without(self, name, suffix):
        out = self.root / name
        shutil.copytree(self.model, out)
        (out / f"bert_model.ckpt{suffix}").unlink()
        return out


@contextlib.contextmanager
def no_leftovers(parent, name):
    """Assert that no `name` nor its temporary siblings appear under `parent` during the block."""
    before = entries_named_like(parent, name)
    yield
    after = entries_named_like(parent, name)
    assert after == before, f"left behind in {parent}: {sorted(set(after) - set(before))}"
