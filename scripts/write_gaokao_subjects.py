"""Write data/gaokao_subjects.jsonl: GAOKAO-Bench's question texts labelled by their subject.

    .venv/bin/python scripts/write_gaokao_subjects.py --gaokao_repo PATH
        [--revision HEAD] [--output data/gaokao_subjects.jsonl] [--max_per_subject N]

PATH is OpenLMLab/GAOKAO-Bench (Apache-2.0): a checkout (its Data/ folder is read) or a git
directory without a work tree (read with `git show REVISION:path`). The labelled task of
bench/downstream.py: subject tagging of real exam questions, 8 subjects in Chinese (Biology,
Chemistry, Chinese, Geography, History, Math, Physics, Political_Science; English left out).

Kept of each question (objective and subjective files alike; the subject is the file name's):
the `question` field only, never `answer` or `analysis`, cleaned as
../shared/reference/gaokao_corpus.txt was: whitespace runs (with full-width spaces) collapsed
to one space, spaces next to a CJK character or full-width punctuation removed; and the leading
item number and score ("4．（6分）", "11. (5 分)") removed, since they tell the paper's layout,
not the question (Math's items are 5 points, Political_Science's 4). Dropped: texts under
--min_chars characters, exact repeats of a text already kept (Math I and Math II share
questions) and texts found under two subjects (all their copies). Rows are written in file-name
order, then the file's own order, so the output is the same every run; --max_per_subject keeps
the first N of each subject in that order.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from components.common.artifacts import atomic_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = "Data"
# The subject of a file: the first of these its name contains (English files have none).
SUBJECTS = (("_Biology_", "Biology"), ("_Chemistry_", "Chemistry"), ("_Chinese_", "Chinese"),
            ("_Geography_", "Geography"), ("_History_", "History"), ("_Math_", "Math"),
            ("_Physics_", "Physics"), ("_Political_Science_", "Political_Science"))
WIDE = r"\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
SPACES = re.compile(r"[\s\u3000\xa0]+")
SPACE_NEXT_TO_WIDE = re.compile(rf"(?<=[{WIDE}]) | (?=[{WIDE}])")
ITEM_NUMBER_AND_SCORE = re.compile(
    r"^\d{1,2}\s*[．.、](?!\d)\s*(?:[（(]\s*\d{1,2}\s*分\s*[)）])?\s*")


def clean(text):
    """One question's text as it is kept (see the module docstring)."""
    text = SPACES.sub(" ", text).strip()
    text = SPACE_NEXT_TO_WIDE.sub("", text)
    return ITEM_NUMBER_AND_SCORE.sub("", text).strip()


def subject_of(file_name):
    for part, subject in SUBJECTS:
        if part in file_name:
            return subject
    return None


class Source:
    """The question files of a GAOKAO-Bench checkout or git directory."""

    def __init__(self, path, revision):
        self.path, self.revision = path, revision
        self.checkout = os.path.isdir(os.path.join(path, DATA_DIR))
        self.commit = self._git("rev-parse", "HEAD" if self.checkout else revision,
                                check=not self.checkout)
        if self.commit:
            self.commit = self.commit.strip()

    def _git(self, *args, check=True):
        try:
            return subprocess.run(["git", "-C", self.path, *args], capture_output=True,
                                  text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as err:
            if not check:
                return None
            sys.exit(f"error: {self.path} is neither a GAOKAO-Bench checkout (no {DATA_DIR}/) "
                     f"nor a git directory with revision {self.revision} "
                     f"({getattr(err, 'stderr', '') or err}); pass --gaokao_repo a clone of "
                     "https://github.com/OpenLMLab/GAOKAO-Bench")

    def files(self):
        if self.checkout:
            found = [os.path.relpath(os.path.join(d, f), self.path)
                     for d, _, names in os.walk(os.path.join(self.path, DATA_DIR))
                     for f in names]
        else:
            found = self._git("ls-tree", "-r", "--name-only", self.revision, DATA_DIR + "/")
            found = found.splitlines()
        return sorted(f for f in found if f.endswith(".json"))

    def read(self, name):
        if self.checkout:
            with open(os.path.join(self.path, name), encoding="utf-8") as f:
                return json.load(f)
        return json.loads(self._git("show", f"{self.revision}:{name}"))


def collect(source, min_chars):
    """(rows, counts): rows {text, label, year, source_file} in output order; counts of what
    each cleaning step dropped."""
    candidates, dropped = [], collections.Counter()
    for name in source.files():
        subject = subject_of(os.path.basename(name))
        if subject is None:
            continue
        for question in source.read(name)["example"]:
            text = clean(question["question"])
            if len(text) < min_chars:
                dropped["shorter than --min_chars"] += 1
                continue
            candidates.append({"text": text, "label": subject, "year": int(question["year"]),
                               "source_file": name})
    subjects = collections.defaultdict(set)
    for row in candidates:
        subjects[row["text"]].add(row["label"])
    rows, seen = [], set()
    for row in candidates:
        if len(subjects[row["text"]]) > 1:
            dropped["text under two subjects"] += 1
        elif row["text"] in seen:
            dropped["exact repeat"] += 1
        else:
            seen.add(row["text"])
            rows.append(row)
    return rows, dropped


def cap_per_subject(rows, cap):
    if cap is None:
        return rows
    kept = collections.Counter()
    capped = []
    for row in rows:
        kept[row["label"]] += 1
        if kept[row["label"]] <= cap:
            capped.append(row)
    return capped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gaokao_repo", required=True, help="OpenLMLab/GAOKAO-Bench: a "
                        "checkout, or a git directory read with git show")
    parser.add_argument("--revision", default="HEAD", help="the commit read from a git "
                        "directory; a checkout is read as it is on disk (default: %(default)s)")
    parser.add_argument("--output", default=os.path.join(ROOT, "data", "gaokao_subjects.jsonl"),
                        help="the JSONL file written, replaced whole once complete (default: "
                        "data/gaokao_subjects.jsonl)")
    parser.add_argument("--min_chars", type=int, default=20, help="drop cleaned questions "
                        "shorter than this many characters (default: %(default)s)")
    parser.add_argument("--max_per_subject", type=int, default=None, help="keep the first N "
                        "questions of each subject (to bound the file size); default: all")
    args = parser.parse_args(argv)
    source = Source(args.gaokao_repo, args.revision)
    rows, dropped = collect(source, args.min_chars)
    rows = cap_per_subject(rows, args.max_per_subject)
    with atomic_file(args.output) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = collections.Counter(row["label"] for row in rows)
    print(f"wrote {len(rows)} questions to {args.output} ({os.path.getsize(args.output):,} "
          f"bytes) from commit {source.commit or 'unknown (a checkout without git)'}")
    print("per subject: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("dropped: " + (", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) or "none"))


if __name__ == "__main__":
    main()
