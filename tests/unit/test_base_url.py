import pytest

from ansible_collections.omniroute.opencode.plugins.module_utils._base_url import (
    BaseUrlError,
    has_stale_v1,
    normalize_base_url,
)


@pytest.mark.parametrize("url", [
    "http://localhost:20128",
    "http://localhost:20128/",
    "http://localhost:20128/v1",
    "http://localhost:20128/v1///",
    "http://localhost:20128/v1/v1",
    "http://localhost:20128//v1/v1/",
    " http://localhost:20128/v1 ",
])
def test_design_table(url):
    assert normalize_base_url(url) == "http://localhost:20128/v1"


def test_keeps_a_path_prefix_and_https():
    assert normalize_base_url("https://gw.example.com/omniroute/") == "https://gw.example.com/omniroute/v1"
    assert normalize_base_url("https://gw.example.com/omniroute/v1") == "https://gw.example.com/omniroute/v1"
    assert normalize_base_url("http://[::1]:20128") == "http://[::1]:20128/v1"


@pytest.mark.parametrize("url, words", [
    ("localhost:20128", "not an http(s) URL"),
    ("ftp://host/v1", "not an http(s) URL"),
    ("http://", "not an http(s) URL"),
    ("", "not an http(s) URL"),
    ("http://host:port", "not a valid URL"),
    ("http://user:pw@host", "must not embed credentials"),
    ("http://host/v1?x=1", "query string"),
    (20128, "must be a string"),
])
def test_rejects_what_is_not_an_http_url(url, words):
    with pytest.raises(BaseUrlError, match=words.replace("(", r"\(").replace(")", r"\)")):
        normalize_base_url(url)


def test_credentials_are_not_echoed():
    with pytest.raises(BaseUrlError) as error:
        normalize_base_url("http://user:hunter2@host")
    assert "hunter2" not in str(error.value)


def test_stale_v1_detection():
    assert has_stale_v1("http://h/v1/v1")
    assert has_stale_v1("http://h/v1/v1/")
    assert not has_stale_v1("http://h/v1")
    assert not has_stale_v1(None)
