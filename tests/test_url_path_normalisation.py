"""A raw request path is judged as the upstream serves it, or refused when servers would read it differently."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote

import pytest
from hypothesis import example, given, settings  # no deadline: the machine is shared
from hypothesis import strategies as st

from app.urlpath import JudgedPath, judge_path, path_of_request_target


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("/", "/"),
        ("/demo/level2/", "/demo/level2/"),
        ("/demo/%6Cevel2/", "/demo/level2/"),  # percent-encoded letters are the letters
        ("/demo/%6c%65%76%65%6c%32/", "/demo/level2/"),
        ("/%7Euser/", "/~user/"),
        ("/demo/./level2/", "/demo/level2/"),
        ("/demo/%2e/level2/", "/demo/level2/"),
        ("/public/../demo/level2/", "/demo/level2/"),
        ("/public/%2e%2e/demo/level2/", "/demo/level2/"),
        ("/public/.%2E/demo/level2/", "/demo/level2/"),
        ("/public/%2E./demo/level2/", "/demo/level2/"),
        ("//demo//level2//", "/demo/level2/"),
        ("/demo/level2/..", "/demo/"),
        ("/demo/level2/.", "/demo/level2/"),
        ("/caf%C3%A9/men%c3%bc", "/café/menü"),
        ("/a:b/@c/!$&'()*+,=", "/a:b/@c/!$&'()*+,="),
        ("/.well-known/openid-configuration", "/.well-known/openid-configuration"),
        ("/demo/level2%20x/", "/demo/level2 x/"),
    ],
)
def test_a_path_is_judged_in_its_decoded_normal_form(raw, path):
    judged = judge_path(raw)
    assert (judged.path, judged.reason, judged.without_parameters) == (path, None, None)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("demo/", "path.not_absolute"),
        ("", "path.not_absolute"),
        ("/demo/" + "a" * 9000, "path.too_long"),
        ("/demo%2Flevel2/", "path.encoded_slash"),
        ("/demo%2flevel2/", "path.encoded_slash"),
        ("/demo\\level2/", "path.backslash"),
        ("/demo%5Clevel2/", "path.backslash"),
        ("/demo/level2\x00/", "path.control_character"),
        ("/demo/level2%00/", "path.control_character"),
        ("/demo/level2%0d%0aX-Evil:%201/", "path.control_character"),
        ("/demo/level2%7F/", "path.control_character"),
        ("/demo/level2%C2%85/", "path.control_character"),  # NEL, a C1 control
        ("/demo/level2\t/", "path.control_character"),
        ("/demo%252Flevel2/", "path.double_encoding"),
        ("/demo/%252e%252e/", "path.double_encoding"),
        ("/demo/%/", "path.bad_percent_encoding"),
        ("/demo/%2/", "path.bad_percent_encoding"),
        ("/demo/%zz/", "path.bad_percent_encoding"),
        ("/demo/%u002e%u002e/", "path.bad_percent_encoding"),  # IIS's %u escapes
        ("/demo/%C0%AE%C0%AE/", "path.bad_utf8"),  # overlong '.'
        ("/demo/%E0%80%AF/", "path.bad_utf8"),  # overlong '/'
        ("/demo/%ED%A0%80/", "path.bad_utf8"),  # a surrogate
        ("/demo/%FF/", "path.bad_utf8"),
        ("/demo/\xff/", "path.bad_utf8"),  # a raw byte, as WSGI carries it
        ("/public/\uff0e\uff0e/demo/", "path.unicode_compatibility"),  # fullwidth dots
        ("/public/%EF%BC%8E%EF%BC%8E/demo/", "path.unicode_compatibility"),
        ("/public%EF%BC%8Fdemo/", "path.unicode_compatibility"),  # fullwidth solidus
        ("/demo/%E2%80%A4%E2%80%A4/", "path.unicode_compatibility"),  # one dot leaders
        ("/demo/level2%3B/", "path.encoded_delimiter"),
        ("/demo/level2%3F/", "path.encoded_delimiter"),
        ("/demo/level2%23/", "path.encoded_delimiter"),
        ("/public/#/../demo/level2/", "path.fragment"),
        ("/..", "path.above_root"),
        ("/demo/../../etc/passwd", "path.above_root"),
        ("/%2e%2e/demo/", "path.above_root"),
        ("/public//../demo/", "path.ambiguous_dot_segment"),
        ("/public//./../demo/", "path.ambiguous_dot_segment"),
        ("/demo/level2./", "path.trailing_dot_or_space"),
        ("/demo/level2%2E/", "path.trailing_dot_or_space"),
        ("/demo/.../", "path.trailing_dot_or_space"),
        ("/demo/level2%20/", "path.trailing_dot_or_space"),
        ("/demo/level2::$INDEX_ALLOCATION/", "path.alternate_data_stream"),
    ],
)
def test_a_path_servers_read_differently_is_refused_with_its_reason(raw, reason):
    assert judge_path(raw) == JudgedPath(reason=reason)


@pytest.mark.parametrize(
    ("raw", "path", "without"),
    [
        ("/demo;jsessionid=1/level2/", "/demo;jsessionid=1/level2/", "/demo/level2/"),
        ("/demo/..;/level2/", "/demo/..;/level2/", "/level2/"),
        ("/demo/x;/../level2/", "/demo/level2/", None),  # both readings agree: nothing left to decide
    ],
)
def test_path_parameters_are_reported_with_and_without_them(raw, path, without):
    judged = judge_path(raw)
    assert (judged.path, judged.reason, judged.without_parameters) == (path, None, without)


@pytest.mark.parametrize(
    ("raw", "unresolved"),
    [
        ("/vault/..", ("/vault/..",)),
        ("/public/%2e%2e/vault/", ("/public/../vault/",)),
        ("/a/./b/../c", ("/a/b/../c",)),
        ("/a/..;x/b", ("/a/../b",)),  # literally, "..;x" is a name
        ("/a/./b", ()),
        ("/a//b", ()),
    ],
)
def test_a_removed_dot_dot_is_reported_as_routers_that_keep_it_read_it(raw, unresolved):
    assert judge_path(raw).unresolved == unresolved


def test_a_parameter_that_only_servlet_containers_see_is_still_judged():
    # Tomcat reads '/a/;x/../b' as '/a//../b': the ambiguity hides behind the parameter.
    assert judge_path("/a/;x/../b").reason == "path.ambiguous_dot_segment"
    assert judge_path("/..;x/demo/").reason == "path.above_root"


def test_the_normal_form_is_rfc_3986s():
    judged = judge_path("/caf%c3%a9/%7e/a%3ab")
    assert judged.path == "/café/~/a:b"
    assert judged.uri == "/caf%C3%A9/~/a:b"


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/demo/?x=1", "/demo/"),
        ("/demo/%3F?x=1", "/demo/%3F"),
        ("http://app.example.org/demo/?x", "/demo/"),
        ("https://app.example.org", ""),
        ("/", "/"),
    ],
)
def test_the_path_of_a_request_target_leaves_out_the_query(target, path):
    assert path_of_request_target(target) == path


# Property tests: paths built from the pieces attackers use.
ATOMS = [
    "", ".", "..", "%2e", "%2E%2e", ".%2e", "a", "A", "%41", "level2", "b;x", ";x", "..;", "%2F", "%25", "%5c",
    "\\", "é", "%C3%A9", "%c0%ae", "\uff0e", "x.", "x%20", "::$DATA", "%00", "%", "%g1", "~", "%7e", "%3B", ":@",
]  # fmt: skip
raw_paths = st.lists(st.sampled_from(ATOMS), max_size=8).map(lambda segments: "/" + "/".join(segments))


def rfc_3986_reading(path: str) -> str:
    """RFC 3986 5.2.4, dots resolved before '//' is merged (empty segments count)."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and out:
                out.pop()
            if i == len(segments) - 1:
                out.append("")
        else:
            out.append(segment)
    return re.sub("/+", "/", "/" + "/".join(out))


def merging_reading(path: str) -> str:
    """nginx's and most file servers': '//' merged first, then dots resolved."""
    merged = re.sub("/+", "/", path)
    resolved = posixpath.normpath(merged)
    return resolved + "/" if merged.endswith(("/", "/.", "/..")) and resolved != "/" else resolved


@settings(max_examples=500, deadline=None)
@given(raw_paths)
@example("/a//../b")
@example("/a//a/../..")
@example("/public/.%2e/demo/")
def test_a_judged_path_is_what_every_reading_serves(raw):
    judged = judge_path(raw)
    if judged.reason:
        return
    decoded = unquote(raw, errors="strict")
    assert judged.path == rfc_3986_reading(decoded) == merging_reading(decoded)


@settings(max_examples=500, deadline=None)
@given(raw_paths)
def test_a_judged_path_has_no_dot_segment_no_empty_segment_and_judges_to_itself(raw):
    judged = judge_path(raw)
    if judged.reason:
        assert judged.path is None and judged.reason.startswith("path.")
        return
    path = judged.path
    assert path.startswith("/") and "//" not in path and "\\" not in path
    assert "." not in path.split("/") and ".." not in path.split("/")
    assert judge_path(judged.uri).path == path
    if path.isascii():
        assert judge_path(path).path == path
    for unresolved in judged.unresolved:
        assert "//" not in unresolved and "." not in unresolved.split("/") and ".." in unresolved.split("/")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_any_text_is_judged_or_refused_never_an_exception(text):
    judged = judge_path("/" + text)
    assert (judged.path is None) != (judged.reason is None)


@settings(max_examples=300, deadline=None)
@given(raw_paths, st.data())
def test_encoding_an_unreserved_character_changes_nothing(raw, data):
    in_escapes = {i + k for i, c in enumerate(raw) if c == "%" for k in (1, 2)}
    unreserved = [i for i, c in enumerate(raw) if i not in in_escapes and c.isascii() and (c.isalnum() or c in "-._~")]
    if not unreserved:
        return
    i = data.draw(st.sampled_from(unreserved))
    encoded = raw[:i] + f"%{ord(raw[i]):02x}" + raw[i + 1 :]
    assert judge_path(encoded) == judge_path(raw)


def test_an_empty_segment_popped_later_is_still_ambiguous():
    # RFC 3986: '/a//a/../..' is '/a/' (the second '..' pops the empty segment); nginx merges first: '/'.
    assert judge_path("/a//a/../..").reason == "path.ambiguous_dot_segment"
    assert judge_path("/a//b/..").path == "/a/"  # both readings agree
