"""The report library: the data report's numbers, and that the page renders in a real browser
with nothing fetched and no console output (its TF-free record reader: test_records.py)."""

import pytest
from helpers_report import external_references, make_corpus_and_data, render

from components.report.data import token_fractions, write_data_report


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory, sample_dir):
    return make_corpus_and_data(tmp_path_factory.mktemp("report"), sample_dir)


def test_token_fractions_follow_the_manifest(sample_data):
    _, _, manifest = sample_data
    fractions = token_fractions(manifest)
    assert fractions["padding"] == manifest["padding_fraction"]
    assert fractions["masked"] == manifest["masked_token_fraction"]
    # Google's 80/10/10: over a few thousand masked tokens the [MASK] share is near 0.8
    assert 0.7 < fractions["masked: [MASK]"] < 0.9
    assert sum(fractions[k] for k in fractions if k.startswith("masked: ")) == pytest.approx(1)


@pytest.mark.slow
def test_data_report_renders_self_contained(sample_data, tmp_path):
    corpus, data, manifest = sample_data
    page = tmp_path / "data.html"
    write_data_report(str(corpus), str(data), str(page))
    text = page.read_text(encoding="utf-8")
    assert external_references(text) == []
    assert text.count("data:image/png;base64,") >= 3  # passage, drops, instance lengths, ...
    assert f"{manifest['train_instances']:,}" in text and "dropped: duplicate" in text
    assert render(page, tmp_path / "data.png") == []
    assert (tmp_path / "data.png").stat().st_size > 20_000  # a page with plots, not a blank one


@pytest.mark.slow
def test_render_sees_console_errors_and_external_assets(tmp_path):
    """The checks above can fail: a page with a script error and a fetched image is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><img src="missing.png">'
                    '<script>console.error("boom")</script></body></html>')
    assert external_references(page.read_text()) == ["missing.png", "<script>"]
    assert any("boom" in line for line in render(page, tmp_path / "bad.png"))
