"""The credential rule of module_utils/_secrets.py, as properties on generated configs.

Configs are generated with secrets planted at random depths under random key names that the rule
names (any case, any depth, under headers/environment), and filler strings everywhere else. The
masked text and the masked data must hold none of the planted secrets (full value, 12-character
piece, base64: tests/support/secrets.py), keep every filler and every {env:}/{file:} reference, and
agree with each other.
"""

import json

import json5
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import parse
from ansible_collections.omniroute.opencode.plugins.module_utils._secret_text import _secret_strings_in, secret_strings
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import MASK, Masker, is_reference, is_secret_key
from tests.support.secrets import find_leaks, planted_config
from tests.unit.test_jsonc_properties import Renderer

SECRET_WORDS = ["apiKey", "api_key", "x-api-key", "Authorization", "TOKEN", "accessToken", "clientSecret",
                "PASSWORD", "passwd", "db_pwd", "credentials", "AuthHeader", "privateKey", "APIKey",
                "apikey", "GITHUB_PERSONAL_ACCESS_TOKEN", "refresh.token", "Cookie"]
PLAIN_WORDS = ["name", "url", "baseURL", "models", "command", "type", "enabled", "timeout", "id", "env",
               "keybinds", "monkey", "author", "oauth", "clientId", "maxOutput"]
plain_keys = st.sampled_from(PLAIN_WORDS) | st.text("abcdefghijlmnqrsuvxyz_-", min_size=1, max_size=6)


class Planter:
    """Draws a config; remembers every secret it planted and every filler it wrote."""

    def __init__(self, draw):
        self.draw = draw
        self.secrets = {}
        self.fillers = []
        self.references = []

    def secret(self):
        value = "s3cr3t-%d-%s" % (len(self.secrets), self.draw(st.text("ABCDEFghijk0123456789+/=\"\\ é", min_size=6,
                                                                           max_size=20)))
        self.secrets["planted-%d" % len(self.secrets)] = value
        return value

    def filler(self):
        value = "plain-%d" % len(self.fillers)
        self.fillers.append(value)
        return value

    def value(self, depth, secret):
        kind = self.draw(st.sampled_from(["scalar", "scalar", "object", "list"] if depth < 4 else ["scalar"]))
        if kind == "object":
            return self.object(depth + 1, secret)
        if kind == "list":
            return [self.value(depth + 1, secret) for _ in range(self.draw(st.integers(0, 2)))]
        if secret and self.draw(st.integers(0, 5)) == 0:
            reference = self.draw(st.sampled_from(["{env:TEAM_KEY}", "Bearer {env:TOKEN}", "{file:~/.key}"]))
            self.references.append(reference)
            return reference
        if not secret and self.draw(st.integers(0, 4)) == 0:
            return self.draw(st.integers(0, 10) | st.booleans() | st.none())
        return self.secret() if secret else self.filler()

    def object(self, depth, secret):
        result = {}
        for _ in range(self.draw(st.integers(0, 4))):
            choice = self.draw(st.sampled_from(["plain", "plain", "secret_key", "container"]))
            if choice == "plain":
                key = self.draw(plain_keys)
                child_secret = secret
            elif choice == "secret_key":
                key = self.draw(st.sampled_from(SECRET_WORDS))
                child_secret = True
            else:
                key = self.draw(st.sampled_from(["headers", "Headers", "environment", "ENVIRONMENT"]))
                child_secret = True
            if key in result:
                continue
            result[key] = self.value(depth, child_secret)
        return result


@st.composite
def planted_configs(draw):
    planter = Planter(draw)
    config = planter.object(0, False)
    config["provider"] = {"p": {"options": {"apiKey": planter.secret(), "baseURL": planter.filler()}}}
    return config, planter


def jsonc_text(draw, config):
    unit = draw(st.sampled_from(["  ", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return Renderer(draw(st.data()), unit, newline).render(config)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_planted_secret_is_masked_in_text_and_data(data):
    config, planter = data.draw(planted_configs())
    text = jsonc_text(data.draw, config)
    masker = Masker()
    masked_text = masker.text(text)
    masked_data = masker.data(config)
    assert find_leaks(masked_text, planter.secrets) == []
    assert find_leaks(json.dumps(masked_data), planter.secrets) == []
    assert find_leaks(json.dumps(masked_data, ensure_ascii=False), planter.secrets) == []
    # the text stays the same JSONC and means exactly the masked data (one rule, two views)
    assert json5.loads(masked_text) == masked_data
    assert parse(masked_text).value == masked_data
    for filler in planter.fillers:
        assert json.dumps(filler) in masked_text
    for reference in planter.references:
        assert reference in masked_text


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_equal_values_get_equal_masks_and_different_values_different_ones(first, second):
    masker = Masker()
    assert masker.token(first) == masker.token(first)
    assert (masker.token(first) == masker.token(second)) == (first == second)
    assert masker.token(first).startswith(MASK)


def test_the_mask_is_keyed_per_run_not_a_plain_hash():
    assert Masker().token("sk-same") != Masker().token("sk-same")
    assert Masker(b"k").token("sk-same") == Masker(b"k").token("sk-same")


def test_a_changed_secret_shows_as_a_changed_mask_in_a_diff():
    masker = Masker()
    before = masker.text('{"provider": {"a": {"options": {"apiKey": "sk-old-value"}}, "b": {"apiKey": "sk-kept"}}}')
    after = masker.text('{"provider": {"a": {"options": {"apiKey": "sk-new-value"}}, "b": {"apiKey": "sk-kept"}}}')
    assert masker.token("sk-old-value") in before and masker.token("sk-new-value") in after
    assert masker.token("sk-kept") in before and masker.token("sk-kept") in after
    assert "sk-" not in before + after


def test_the_corpus_of_every_named_place():
    text, planted = planted_config("unit")
    assert len(find_leaks(text, planted)) == len(planted)  # the scanner finds each one unmasked
    masker = Masker()
    assert find_leaks(masker.text(text), planted) == []
    assert find_leaks(json.dumps(masker.data(parse(text).value)), planted) == []
    assert "Bearer {env:TEAM_TOKEN}" in masker.text(text)


def test_broken_text_is_masked_as_far_as_it_goes():
    masker = Masker()
    for text in ['{"apiKey": "sk-unterminated-secret', '{"a": {"token": "sk-before-error" "x": }',
                 '{"headers": {"Authorization": "sk-in-broken", /* never closed']:
        secret = text.split('"sk-')[1].split('"')[0]
        assert "sk-" + secret not in masker.text(text)
        assert "sk-" + secret not in masker.message("near %r" % ("sk-" + secret), text)


def test_the_rule():
    assert all(is_secret_key(k) for k in SECRET_WORDS)
    assert not any(is_secret_key(k) for k in PLAIN_WORDS)
    assert is_reference("{env:X}") and is_reference("Bearer {env:X}") and is_reference("{file:~/.k}")
    assert not is_reference("sk-abc{env:X}") and not is_reference("plain")


def whole_text_walk(text):
    """The reference: every token of the text in order, as broken text is always walked."""
    return _secret_strings_in(text, 0, len(text), [], None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_walking_only_hinted_member_values_finds_what_the_whole_text_walk_finds(data):
    config, planter = data.draw(planted_configs())
    for name in data.draw(st.lists(plain_keys | st.sampled_from(SECRET_WORDS + ["headers"]), max_size=3)):
        config["provider"][name] = planter.object(1, False)
    text = jsonc_text(data.draw, config)
    assert secret_strings(text) == whole_text_walk(text)
    # and on the text broken somewhere (then the whole text is walked, as before)
    at = data.draw(st.integers(0, len(text)))
    broken = text[:at] + data.draw(st.sampled_from(['"', "{", "}", ",", "/*", ""])) + text[at + 1:]
    assert secret_strings(broken) == whole_text_walk(broken)


def test_hints_that_only_an_escape_or_a_long_lower_case_carries():
    for text in ['{"a": {"api\\u004bey": "s3cr3t"}}',           # the key name is apiKey once decoded
                 # U+0130 lowercases to two characters: offsets in the lowercased text would drift
                 '{"%s": 1, "provider": {"p": {"token": "s3cr3t"}, "q": {"x": 1}}}' % ("\u0130" * 40),
                 '{"provider": {"token-provider": {"x": "s3cr3t"}}}']:
        assert [value for _start, _end, value in secret_strings(text)] == ["s3cr3t"], text
        assert secret_strings(text) == whole_text_walk(text)
