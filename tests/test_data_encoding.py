"""Text files are read as UTF-8, with Latin-1 only where a file is not valid UTF-8."""
from course_utils.data import bbc_news, read_class_folders


def test_utf8_and_latin1_files_both_read_as_the_pound_sign(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.txt").write_bytes("costs £5".encode("utf-8"))
    (tmp_path / "a" / "2.txt").write_bytes("costs £5".encode("latin-1"))
    assert read_class_folders(tmp_path).texts == ["costs £5", "costs £5"]
    assert read_class_folders(tmp_path, encoding="latin-1").texts[0] == "costs Â£5"   # the old misreading


def test_bbc_news_has_no_utf8_read_as_latin1():
    texts = bbc_news().texts
    assert not any("Â£" in t or "â€" in t for t in texts)
    assert sum("£" in t for t in texts) > 100
