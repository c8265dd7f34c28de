"""Classification schemes come from TOML files and are validated."""

from __future__ import annotations

import pytest

from openhotline.assessment.schemes import SchemeError, load_scheme, parse_scheme, shipped_schemes


def test_shipped_schemes_load() -> None:
    assert {"default", "uk", "industry"} <= set(shipped_schemes())
    default = load_scheme("default")
    assert [c.code for c in default.classes] == [
        "baseline",
        "national",
        "not_illegal",
        "not_found",
        "out_of_remit",
    ]
    assert {f.name for f in default.fields} == {
        "age_band",
        "site_type",
        "commercial",
        "sex",
        "disguised",
    }
    assert [c.code for c in load_scheme("industry").classes if c.illegal] == [
        "A1",
        "A2",
        "B1",
        "B2",
    ]
    assert [c.label for c in load_scheme("uk").classes if c.illegal] == [
        "Category A",
        "Category B",
        "Category C",
    ]


def test_validate_grade() -> None:
    scheme = load_scheme("default")
    cls, fields = scheme.validate("baseline", {"age_band": "unclear", "commercial": "1"})
    assert cls.illegal and fields == {"age_band": "unclear", "commercial": True, "disguised": False}
    with pytest.raises(SchemeError, match="choose a classification"):
        scheme.validate("nonsense", {})
    with pytest.raises(SchemeError, match="not one of the choices"):
        scheme.validate("baseline", {"age_band": "<script>"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 'x'\n[[classes]\n", "not valid TOML"),
        ("name = 'x'", "missing or invalid"),
        (
            "name='x'\n[[classes]]\ncode='a'\nlabel='A'\nillegal=true\n",
            "at least one illegal and one other",
        ),
        (
            "name='x'\n[[classes]]\ncode='a'\nlabel='A'\nillegal=true\n"
            "[[classes]]\ncode='a'\nlabel='B'\nillegal=false\n",
            "unique",
        ),
        (
            "name='x'\n[[classes]]\ncode='a'\nlabel='A'\nillegal=true\n"
            "[[classes]]\ncode='b'\nlabel='B'\nillegal=false\n"
            "[[fields]]\nname='f'\nlabel='F'\nkind='colour'\n",
            "kind must be",
        ),
    ],
)
def test_bad_scheme_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(SchemeError, match=message):
        parse_scheme(text)


def test_unknown_scheme_name() -> None:
    with pytest.raises(SchemeError, match="no classification scheme"):
        load_scheme("missing")
    with pytest.raises(SchemeError, match="invalid scheme name"):
        load_scheme("../../etc/passwd")
