"""Render an HTML report in headless Chromium (Debian `chromium`, installed with apt-get when
missing) and check it is self-contained."""

import os
import re
import shutil
import subprocess

from bs4 import BeautifulSoup

from tests.helpers_session import machine_lock

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--enable-logging=stderr", "--v=0", "--window-size=1200,2400"]
CONSOLE = re.compile(r":CONSOLE[:(]")


def chromium():
    """The chromium binary; installs Debian's package when it is missing (one process at a time:
    the test workers would otherwise race for apt's lock)."""
    path = shutil.which("chromium")
    if path:
        return path
    with machine_lock("apt-get"):
        if not shutil.which("chromium"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env,
                           capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env,
                           capture_output=True)
    return shutil.which("chromium")


def render(html_path, png_path):
    """Screenshot `html_path`; return the browser console lines (errors, logs) it printed."""
    result = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--screenshot={png_path}",
                             f"file://{os.path.abspath(html_path)}"],
                            capture_output=True, text=True, timeout=120)
    assert os.path.exists(png_path), result.stderr[-2000:]
    return [line for line in result.stderr.splitlines() if CONSOLE.search(line)]


def visible_text(html_path):
    """The text of `html_path` as Chromium loaded it (its DOM after parsing; folded <details>
    included), without the style sheet."""
    result = subprocess.run([chromium(), *CHROMIUM_FLAGS, "--dump-dom",
                             f"file://{os.path.abspath(html_path)}"],
                            capture_output=True, text=True, timeout=120)
    assert "<body" in result.stdout, result.stderr[-2000:]
    soup = BeautifulSoup(result.stdout, "html.parser")
    for tag in soup.find_all(["style", "script"]):
        tag.decompose()
    return soup.get_text(" ")


def make_corpus_and_data(root, sample_dir):
    """The sample corpus through the real extract and pretraining-data stages (no TF):
    (corpus dir, pretraining-data dir, its manifest)."""
    from components.extract.arguments import ExtractArguments
    from components.extract.corpus import extract_corpus
    from components.pretraining_data.arguments import PretrainingDataArguments
    from components.pretraining_data.create import create_pretraining_data

    corpus = root / "corpus"
    extract_corpus(ExtractArguments(
            output_dir=str(corpus), input_file=[str(sample_dir / "corpus.txt")]))
    data = root / "pretraining_data"
    manifest = create_pretraining_data(PretrainingDataArguments(str(corpus), output_dir=str(data),
                                       vocab_file=str(sample_dir / "vocab.txt"), dupe_factor=1,
                                       heldout_fraction=0.1, num_workers=1))
    return corpus, data, manifest


def external_references(html_text):
    """Everything that would make the browser fetch or run something: non-data: images,
    scripts (inline ones too: the KFP UI's sandbox blocks them), stylesheets, frames, CSS
    url()s."""
    soup = BeautifulSoup(html_text, "html.parser")
    found = [img.get("src", "") for img in soup.find_all("img")
             if not img.get("src", "").startswith("data:image/png;base64,")]
    found += [tag.get("src") or tag.get("href") or f"<{tag.name}>"
              for tag in soup.find_all(["script", "link", "iframe"])]
    found += re.findall(r"url\(", " ".join(style.get_text() for style in soup.find_all("style")))
    return found


def all_keys(*mappings):
    """Every key of `mappings` and of the dicts inside them."""
    found = set()
    for mapping in mappings:
        for key, value in mapping.items():
            found.add(key)
            if isinstance(value, dict):
                found |= all_keys(value)
    return found


def raw_keys(text, keys):
    """The snake_case keys that show as words in `text`."""
    return sorted(k for k in keys if "_" in k
                  and re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", text))


def machine_paths(text, tmp_path_factory, repo_root):
    """The paths of this machine (temporary, home, the repository) that show in `text`."""
    roots = {str(tmp_path_factory.getbasetemp()), os.path.expanduser("~") + "/", str(repo_root)}
    return ([root for root in roots if root in text]
            + re.findall(r"(?<![\w.:/])/(?:tmp|home|root|work|Users|var)/\S*", text))
