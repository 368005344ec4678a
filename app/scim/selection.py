"""``attributes`` and ``excludedAttributes`` (RFC 7644 section 3.4.2.5) applied to a rendered resource.

Names are paths (``userName``, ``name.givenName``, ``urn:...:User:department``
or a whole extension URN), compared without regard to case. ``id``,
``schemas`` and ``meta`` are always returned (``returned: always``).
"""

from __future__ import annotations

ALWAYS = {"id", "schemas", "meta"}
MAX_NAMES = 64


def names(raw: str | list | None) -> list[str]:
    """The comma-separated list (or JSON list, for ``/.search``) as paths, lower-cased."""
    if raw is None:
        return []
    parts = raw.split(",") if isinstance(raw, str) else [p for p in raw if isinstance(p, str)]
    return [p.strip().lower() for p in parts if p.strip()][:MAX_NAMES]


def _split(name: str, extensions: list[str]) -> tuple[str | None, str]:
    urn = next((u for u in extensions if name == u.lower() or name.startswith(u.lower() + ":")), None)
    if urn is None and name.startswith("urn:ietf:params:scim:schemas:core:2.0:"):
        name = name.rpartition(":")[2]
    return urn, name[len(urn) + 1 :] if urn else name


def select(resource: dict, attributes: list[str], excluded: list[str]) -> dict:
    if not attributes and not excluded:
        return resource
    extensions = [k for k in resource if k.lower().startswith("urn:")]
    if attributes:
        kept: dict = {}
        for name in attributes:
            urn, path = _split(name, extensions)
            source = resource.get(urn, {}) if urn else resource
            if urn and not path:
                kept[urn] = resource[urn]
                continue
            target = kept.setdefault(urn, {}) if urn else kept
            _copy(source, target, path)
        result = {k: v for k, v in resource.items() if k in ALWAYS} | {k: v for k, v in kept.items() if v != {}}
    else:
        result = {k: (dict(v) if isinstance(v, dict) else v) for k, v in resource.items()}
        for name in excluded:
            urn, path = _split(name, extensions)
            container = result.get(urn) if urn else result
            if urn and not path:
                result.pop(urn, None)
            elif isinstance(container, dict):
                _drop(container, path)
    result["schemas"] = [resource["schemas"][0], *(s for s in resource["schemas"][1:] if s in result)]
    return result


def _key(container: dict, name: str) -> str | None:
    return next((k for k in container if k.lower() == name), None)


def _copy(source: dict, target: dict, path: str) -> None:
    attr, _, sub = path.partition(".")
    key = _key(source, attr)
    if key is None or key in ALWAYS:
        return
    if not sub:
        target[key] = source[key]
    elif isinstance(source[key], dict):
        sub_key = _key(source[key], sub)
        if sub_key is not None:
            target.setdefault(key, {})[sub_key] = source[key][sub_key]
    elif isinstance(source[key], list):
        items = [{k: v for k, v in i.items() if k.lower() == sub} for i in source[key] if isinstance(i, dict)]
        target[key] = [i for i in items if i]


def _drop(container: dict, path: str) -> None:
    attr, _, sub = path.partition(".")
    key = _key(container, attr)
    if key is None or key in ALWAYS:
        return
    if not sub:
        container.pop(key)
    elif isinstance(container[key], dict):
        inner = dict(container[key])
        inner.pop(_key(inner, sub) or sub, None)
        container[key] = inner
    elif isinstance(container[key], list):
        container[key] = [{k: v for k, v in i.items() if k.lower() != sub} for i in container[key]]
