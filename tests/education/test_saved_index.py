"""The saved search index (``education/query.py``): the same answers as the in-memory index,
rebuilt when the content changes, and rebuilt when the file is not a valid index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from omegafarm.core.errors import ValidationError
from omegafarm.education import SHIPPED_CONTENT_DIR, EducationSettings, load_content
from omegafarm.education import query as saved
from omegafarm.education.search import SearchIndex, library_documents

QUERIES = (
    "sharpe", "order book", "fibonaci", "retracem", "stop loss risk", "the and of", "xyzzyqq",
    "volatilty breakout", "ord", "mean reversion OR momentum", "rsi", "kelly criterion",
)  # fmt: skip


@pytest.fixture(scope="module")
def in_memory() -> SearchIndex:
    index = SearchIndex()
    index.add(library_documents(load_content()))
    return index


def test_the_saved_index_answers_like_the_in_memory_one(
    tmp_path: Path, in_memory: SearchIndex
) -> None:
    settings = EducationSettings(index_dir=tmp_path)
    built = saved.cached_index(settings)  # built and saved
    built.close()
    assert saved.index_path(settings).is_file()
    opened = saved.cached_index(settings)  # opened from the file
    try:
        for query in QUERIES:
            for kind in (None, "glossary"):
                assert opened.search(query, kind=kind) == in_memory.search(query, kind=kind)
        assert opened.search("fibonaci").corrections == (("fibonaci", "fibonacci"),)
    finally:
        opened.close()


def test_a_changed_content_file_rebuilds_the_index(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(SHIPPED_CONTENT_DIR, content)
    settings = EducationSettings(index_dir=tmp_path / "index", content_dir=content)
    assert saved.search(settings, "quokkanomics").hits == ()
    lesson = sorted((content / "lessons").rglob("*.md"))[0]
    lesson.write_text(lesson.read_text() + "\nQuokkanomics is the word of the day.\n")
    hits = saved.search(settings, "quokkanomics").hits
    assert [h.kind for h in hits] == ["lesson"]


def test_a_file_that_is_no_index_is_replaced(tmp_path: Path) -> None:
    settings = EducationSettings(index_dir=tmp_path)
    path = saved.index_path(settings)
    path.write_bytes(b"not a database")
    assert saved.search(settings, "sharpe").hits
    opened = SearchIndex.open(path)
    try:
        assert opened.meta("fingerprint") == saved.fingerprint(SHIPPED_CONTENT_DIR)
    finally:
        opened.close()


def test_bad_arguments_are_refused_as_by_the_service(tmp_path: Path) -> None:
    settings = EducationSettings(index_dir=tmp_path)
    with pytest.raises(ValidationError, match="unknown kind 'x'"):
        saved.search(settings, "sharpe", kind="x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="limit must be between 1 and 50"):
        saved.search(settings, "sharpe", limit=0)


def test_search_settings_are_the_education_settings_defaults() -> None:
    """``omega learn search`` with nothing configured reads SearchSettings instead of the
    pydantic model: every field it has is the model's default."""
    light, model = saved.SearchSettings(), EducationSettings()
    names = [f for f in saved.SearchSettings.__dataclass_fields__]
    assert {n: getattr(light, n) for n in names} == {n: getattr(model, n) for n in names}
    assert set(names) <= set(EducationSettings.model_fields)


def test_search_settings_and_the_model_find_the_same_index_and_answer(tmp_path: Path) -> None:
    light = saved.SearchSettings(index_dir=tmp_path)
    model = EducationSettings(index_dir=tmp_path)
    assert saved.index_path(light) == saved.index_path(model)
    assert saved.search(light, "sharpe") == saved.search(model, "sharpe")


def test_every_module_the_indexing_code_imports_is_in_the_fingerprint() -> None:
    """A change to code that decides what is indexed rebuilds the saved index: search.py and
    the education modules it imports (_results.py, moved out of models.py, among them)."""
    import ast

    here = Path(saved.__file__).parent
    tree = ast.parse((here / "search.py").read_text())
    imported = {
        node.module.rsplit(".", 1)[1] + ".py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module is not None
        and node.module.startswith("omegafarm.education.")
    }
    assert "_results.py" in imported
    assert imported - {"errors.py"} <= set(saved._INDEXING_CODE)
    assert all((here / name).is_file() for name in saved._INDEXING_CODE)
