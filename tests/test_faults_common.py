"""The shared fault helpers: bad-row accounting and disk-full errors (components/common)."""

import errno

import pytest

from components.common.bad_rows import BadRows
from components.common.disk import (
    check_free_space,
    check_writable_location,
    write_errors_as_user_errors,
)
from components.common.errors import EXIT_USER_ERROR, UserError, exit_on_user_error


def test_bad_rows_within_the_allowed_share_are_skipped():
    bad = BadRows(max_bad_fraction=0.1)
    bad.skip("invalid_utf8", "a.txt line 3")
    bad.skip("invalid_utf8", "a.txt line 9")
    bad.check(rows_seen=20, source="a.txt")
    assert bad.counts == {"invalid_utf8": 2} and bad.first == {"invalid_utf8": "a.txt line 3"}


def test_bad_rows_over_the_allowed_share_stop_with_counts_and_the_first_row():
    bad = BadRows(max_bad_fraction=0.1)
    bad.skip("too_long", "row 4")
    bad.merge({"too_long": 1, "no_text": 2}, {"too_long": "row 7", "no_text": "row 8"})
    with pytest.raises(UserError) as err:
        bad.check(rows_seen=30, source="--query")
    line = err.value.one_line()
    assert "4 of 30 rows are bad (2 too_long, 2 no_text)" in line
    assert "--max_bad_fraction=0.1; first too_long: row 4 (--query)" in line


@pytest.mark.parametrize("value", [-0.01, 1.5])
def test_max_bad_fraction_must_be_a_share(value):
    with pytest.raises(UserError, match="--max_bad_fraction"):
        BadRows(max_bad_fraction=value)


def test_free_space_check_names_the_output(tmp_path):
    check_free_space(tmp_path / "out", 1)
    with pytest.raises(UserError, match=r"not enough disk space for the output: about .* "
                                        r"needed, .* free \(.*out\)"):
        check_free_space(tmp_path / "not" / "yet" / "out", 1 << 62)


def test_disk_full_write_errors_become_user_errors_others_pass_through(tmp_path):
    with pytest.raises(UserError, match=r"writing the output failed: No space left on device"):
        with write_errors_as_user_errors(str(tmp_path)):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(FileNotFoundError):
        with write_errors_as_user_errors(str(tmp_path)):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory")


def test_library_errors_carrying_a_disk_full_message_become_user_errors(tmp_path):
    """TensorFlow and safetensors wrap the OS error in their own types, message kept."""
    with pytest.raises(UserError, match=r"writing the output failed: File too large"):
        with write_errors_as_user_errors(str(tmp_path)):
            raise RuntimeError("x.data-00000-of-00001.tempstate1; File too large [Op:SaveV2]")
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with write_errors_as_user_errors(str(tmp_path)):
            raise RuntimeError("shape mismatch")


def test_writable_location_is_checked_up_front(tmp_path):
    check_writable_location(tmp_path / "new" / "eval.json", "--output_file", expect="file")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match=r"a_file should be a directory to create the file in, "
                                        r"found a file \(.*eval.json\); pass another "
                                        r"--output_file"):
        check_writable_location(tmp_path / "a_file" / "eval.json", "--output_file",
                                expect="file")
    assert not (tmp_path / "new").exists()


def test_an_existing_output_of_the_expected_kind_passes_and_another_kind_is_named(tmp_path):
    """A rerun finds its own last output: the same kind is fine (it is replaced or resumed);
    the message names what was expected and what was found."""
    (tmp_path / "eval.json").write_text("{}")
    (tmp_path / "out").mkdir()
    check_writable_location(tmp_path / "eval.json", "--output_file", expect="file")
    check_writable_location(tmp_path / "out", "--output_dir", expect="directory")
    with pytest.raises(UserError, match=r"--output_file should be a file, found a directory "
                                        r"\(.*out\); pass another --output_file"):
        check_writable_location(tmp_path / "out", "--output_file", expect="file")
    with pytest.raises(UserError, match=r"--output_dir should be a directory, found a file "
                                        r"\(.*eval.json\); pass another --output_dir"):
        check_writable_location(tmp_path / "eval.json", "--output_dir", expect="directory")


def test_an_unforeseen_permission_or_disk_error_ends_in_one_line(tmp_path, capsys):
    """A real EISDIR is a bug-shaped error and keeps its traceback; EACCES/ENOSPC do not."""
    def fails_with(err):
        @exit_on_user_error
        def main():
            raise err
        return main

    denied = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "out"))
    with pytest.raises(SystemExit) as stop:
        fails_with(denied)()
    assert stop.value.code == EXIT_USER_ERROR
    assert capsys.readouterr().err == (f"error: Permission denied ({tmp_path / 'out'}); check the "
                                       "permissions of that path, or pass another one\n")
    with pytest.raises(SystemExit):
        fails_with(OSError(errno.ENOSPC, "No space left on device"))()
    assert capsys.readouterr().err.startswith("error: No space left on device; free some space")

    @exit_on_user_error
    def opens_a_directory():
        open(tmp_path, "w")  # noqa: SIM115

    with pytest.raises(IsADirectoryError):
        opens_a_directory()
