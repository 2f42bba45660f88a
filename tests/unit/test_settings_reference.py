from groundwork.paths import ROOT
from groundwork.reference import BEGIN, END, markdown


def test_readme_settings_reference_is_current():
    text = (ROOT / "README.md").read_text()
    block = text[text.index(BEGIN): text.index(END) + len(END) + 1]
    assert block == markdown(), "README settings are stale: run `make settings-doc`"


def test_reference_lists_every_base_key():
    table = markdown()
    for key in ("base_hostname", "base_timezone", "base_locale", "base_apt_cache_max_age"):
        assert f"| `{key}` |" in table
