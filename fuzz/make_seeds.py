#!/usr/bin/env python3
"""Writes the starting inputs of each fuzz target into fuzz/seeds/<target>/.

Seeds are the repository's own policies (examples/*.toml, the fuzz targets'
fixed policy, every ```toml block of docs/) and their JSON forms, plus
hand-made cookie / query / form / JSON samples. Fuzzing starts from them; the
minimised corpus in fuzz/corpus/ is what is kept (see README.md).
Usage: python3 fuzz/make_seeds.py
"""
import json
import pathlib
import random
import re
import tomllib

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
SEEDS = FUZZ / "seeds"


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def policies():
    """(name, TOML text) of every policy in the repository."""
    for p in sorted((ROOT / "examples").glob("*.toml")):
        yield p.stem, p.read_text()
    yield "extract", (FUZZ / "src" / "extract.toml").read_text()
    for md in sorted((ROOT / "docs").glob("*.md")):
        blocks = re.findall(r"```toml\n(.*?)```", md.read_text(), re.S)
        for i, block in enumerate(blocks):
            yield f"{md.stem}-{i}", block


def policy_seeds():
    for name, text in policies():
        write("policy_toml", f"seed-{name}.toml", text)
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            continue
        write("policy_json", f"seed-{name}.json", json.dumps(doc, indent=1))
    for md in sorted((ROOT / "docs").glob("*.md")):
        blocks = re.findall(r"```json\n(.*?)```", md.read_text(), re.S)
        for i, block in enumerate(blocks):
            write("policy_json", f"seed-{md.stem}-json-{i}.json", block)


# attrs: pieces separated by 0xFF — name, Cookie header, form data, JSON body,
# JSON pointer, content type, URL, header value (see fuzz/src/input.rs).
ATTRS = [
    ["uid", 'a=1; uid=42;theme="dark" ; uidx=9', "a=1&name=J%C3%BCrgen+M&flag&empty=&a=2",
     '{"user": {"tier": "gold", "age": 31, "beta": true, "x": null}}', "/user/tier",
     "application/json", "http://API.Example.com:8080/v1/items?x=1", "5.2.0"],
    ["thirdPolicystatus", "gray=canary", "thirdPolicystatus=1", '{"thirdPolicystatus": 1}',
     "/thirdPolicystatus", "application/x-www-form-urlencoded; charset=utf-8",
     "http://api.example.com/api/orders?thirdPolicystatus=2", "1001"],
    ["a b", "c=\"3\"; h=; m", "a+b=1&a%20b=2&n%61me=x&%ff=1&q=%C3%A9a", '{"a/b": {"~": [true]}}',
     "/a~1b/~0/0", "application/vnd.api+json", "https://user@[::1]:8443/b?h=k", "v5.2.1 (build 77)"],
    ["c", "broken; ;=;==; c=1", "100%&%zz%4=&=", "[1, 2.5e3, -0, \"x\"]", "/1", "text/plain",
     "/only/path", ""],
    ["n", "uid=\"ü\"", "n=11&f=12.5&v=5.2.0-rc.1&ip=10.1.2.3&ip=%3A%3Affff%3A10.0.0.1",
     '{"n": 3, "v": "1.2.3", "u": "a b", "m": null, "j": "x"}', "", "application/json",
     "http://a.x.example.com/v2/x", "5.1.9"],
]


def attrs_seeds():
    for i, pieces in enumerate(ATTRS):
        write("attrs", f"seed-{i}", b"\xff".join(p.encode() for p in pieces))


def decide_seeds():
    rng = random.Random(7)
    for i in range(24):
        write("decide", f"seed-{i}", bytes(rng.randrange(256) for _ in range(rng.randrange(8, 160))))


if __name__ == "__main__":
    policy_seeds()
    attrs_seeds()
    decide_seeds()
    for t in sorted(SEEDS.iterdir()):
        print(t.name, len(list(t.iterdir())))
