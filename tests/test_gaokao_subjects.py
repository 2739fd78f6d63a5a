# ruff: noqa: E501  (Chinese test text: ruff counts each CJK character as two columns)
"""scripts/write_gaokao_subjects.py on small GAOKAO-Bench-shaped repositories made here: what a
question keeps, which files and rows it drops, and that a checkout and a git directory give
the same file."""

import json
import pathlib
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import write_gaokao_subjects as gaokao  # noqa: E402

SHARED = "已知集合A={x|x>1}，B={x|x<3}，求集合A与集合B的交集并写出过程"


def question(text, year=2015):
    return {"year": str(year), "category": "（新课标）", "question": text, "answer": ["A"],
            "analysis": "【解答】解：答案是 A。", "index": 0, "score": 5}


FILES = {
    "Data/Objective_Questions/2010-2022_Biology_MCQs.json": [
        question("1．（ 6分）下列有关细胞的 叙述，\n正确的是（ 　　）\nA．病毒是一类具有细胞结构的生物"),
        question("太短的题"),
        question("2．（6分）下列关于呼吸作用的叙述，正确的是（）A．无氧呼吸的终产物是丙酮酸", 2016),
    ],
    "Data/Objective_Questions/2010-2022_Math_I_MCQs.json": [question("1. (5 分) " + SHARED)],
    "Data/Subjective_Questions/2010-2022_Math_II_Fill-in-the-Blank.json": [
        question("3．（5分）" + SHARED),
        question("13. (5 分) 曲线 $y=2 \\ln x$ 在点 $(1,0)$ 处的切线方程为多少，请写出推导"),
    ],
    "Data/Objective_Questions/2010-2022_History_MCQs.json": [
        question("两个科目都有的一道题，文字完全相同，用来检查标签冲突的处理"),
        question("1.5 万年前的遗址中发现了大量的石器和陶器，这说明当时的人们已经定居"),
    ],
    "Data/Objective_Questions/2010-2022_Geography_MCQs.json": [
        question("两个科目都有的一道题，文字完全相同，用来检查标签冲突的处理"),
    ],
    "Data/Objective_Questions/2010-2013_English_MCQs.json": [
        question("The cat ___ on the mat when I came in. A. sat B. sits C. was sitting D. sit"),
    ],
}


def write_checkout(root):
    for name, questions in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        keywords = pathlib.Path(name).stem
        path.write_text(json.dumps({"keywords": keywords, "example": questions},
                                   ensure_ascii=False), encoding="utf-8")


def run_script(repo, output, capsys):
    gaokao.main(["--gaokao_repo", str(repo), "--output", str(output)])
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    return rows, capsys.readouterr().out


@pytest.mark.parametrize(("raw", "kept"), [
    ("1．（ 6分）下列有关细胞的 叙述，\n正确的是", "下列有关细胞的叙述，正确的是"),
    ("11. (5 分) 已知 $x>1$ ,  求 y", "已知$x>1$ ,求y"),
    ("1.5 万年前的遗址", "1.5万年前的遗址"),
    ("20 世纪 80 年代开始，长江三角洲", "20世纪80年代开始，长江三角洲"),
    ("名篇名句默写。补写出下列句子中的空缺部分。〔 5分〕", "名篇名句默写。补写出下列句子中的空缺部分。〔5分〕"),
])
def test_clean_collapses_whitespace_and_drops_the_item_number_and_score(raw, kept):
    assert gaokao.clean(raw) == kept


def test_a_checkout_gives_the_chinese_subjects_questions_deduplicated(tmp_path, capsys):
    write_checkout(tmp_path / "repo")
    rows, printed = run_script(tmp_path / "repo", tmp_path / "out.jsonl", capsys)

    assert [(r["label"], r["text"][:10]) for r in rows] == [
        ("Biology", "下列有关细胞的叙述，"), ("Biology", "下列关于呼吸作用的叙"),
        ("History", "1.5万年前的遗址中"), ("Math", SHARED[:10]), ("Math", "曲线$y=2 \\ln")]
    assert {r["year"] for r in rows} == {2015, 2016}
    assert rows[3]["source_file"] == "Data/Objective_Questions/2010-2022_Math_I_MCQs.json"
    assert all("解答" not in r["text"] for r in rows)
    assert "exact repeat 1" in printed and "text under two subjects 2" in printed
    assert "shorter than --min_chars 1" in printed


def test_a_git_directory_gives_the_same_file_as_its_checkout(tmp_path, capsys):
    checkout = tmp_path / "repo"
    write_checkout(checkout)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(checkout)]
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "data"], check=True)
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(checkout), str(bare)], check=True)
    commit = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()

    _, from_checkout = run_script(checkout, tmp_path / "a.jsonl", capsys)
    _, from_git = run_script(bare, tmp_path / "b.jsonl", capsys)

    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert commit in from_checkout and commit in from_git


def test_max_per_subject_keeps_the_first_questions_of_each(tmp_path, capsys):
    write_checkout(tmp_path / "repo")
    gaokao.main(["--gaokao_repo", str(tmp_path / "repo"), "--output",
                 str(tmp_path / "out.jsonl"), "--max_per_subject", "1"])
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["label"], r["text"][:4]) for r in rows] == [
        ("Biology", "下列有关"), ("History", "1.5万"), ("Math", SHARED[:4])]


def test_not_a_gaokao_repository_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        gaokao.main(["--gaokao_repo", str(tmp_path), "--output", str(tmp_path / "o.jsonl")])
    assert str(stop.value).startswith("error: ") and "GAOKAO-Bench" in str(stop.value)
    assert not (tmp_path / "o.jsonl").exists()
