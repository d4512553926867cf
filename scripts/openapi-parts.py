#!/usr/bin/env python3
"""The OpenAPI document in parts: docs/openapi/core.yaml (the core's) and Sources/<Pack>/openapi.yaml
(each pack's: its `tags:`, `paths:` and `schemas:` entries, indented as in the full document).

  assemble   write docs/openapi.yaml = core + every pack part (packs in name order), and the Swift
             files the server embeds: Sources/ParleyServer/OpenAPIDocument.swift (the core) and
             Sources/<Pack>/OpenAPIPart.swift (each part); the server assembles them at start-up
             with the same rule (ParleyPackKit's OpenAPIAssembly).
  check      exit 1 if any of those files is out of date.
  split      the inverse, for porting an edit made to docs/openapi.yaml: every tag, path and schema
             goes back to the part that owns it (the part that lists it today; anything new goes to
             the core, and is listed so you can move it), then `assemble`.

The merge rule: a pack's tags go at the end of the core's `tags:` list, its paths at the end of
`paths:`, its schemas at the start of `components.schemas`.
"""
import glob, os, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "docs/openapi/core.yaml")
FULL = os.path.join(ROOT, "docs/openapi.yaml")
SERVER_SWIFT = os.path.join(ROOT, "Sources/ParleyServer/OpenAPIDocument.swift")
SECTIONS = ("tags", "paths", "schemas")
ITEM = {"tags": re.compile(r"^  - "), "paths": re.compile(r"^  /"), "schemas": re.compile(r"^    [A-Za-z0-9_.-]+:")}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def parts():
    """(module, path) of every pack part, in pack-name order (the module's name without Parley)."""
    found = [(os.path.basename(os.path.dirname(p)), p) for p in glob.glob(os.path.join(ROOT, "Sources/*/openapi.yaml"))]
    return sorted(found, key=lambda mp: mp[0].lower())


def parse_part(text):
    out = {s: [] for s in SECTIONS}
    current = None
    for line in text.split("\n"):
        if line.rstrip(":") in SECTIONS and line.endswith(":") and not line.startswith(" "):
            current = line[:-1]
        elif current is None:
            continue  # leading comments
        else:
            out[current].append(line)
    for s in SECTIONS:
        while out[s] and out[s][-1] == "":
            out[s].pop()
    return out


def section_bounds(lines):
    """Index where each section's items end (tags, paths) or start (schemas) in the core."""
    def top(name):
        return lines.index(name + ":")
    def end_of_top(i):
        j = i + 1
        while j < len(lines) and (lines[j].startswith(" ") or lines[j] == ""):
            j += 1
        return j
    schemas = lines.index("  schemas:")
    return {"tags": end_of_top(top("tags")), "paths": end_of_top(top("paths")), "schemas": schemas + 1}


def assemble(core_text, part_texts):
    lines = core_text.rstrip("\n").split("\n")
    inserts = {s: [] for s in SECTIONS}
    for text in part_texts:
        p = parse_part(text)
        for s in SECTIONS:
            inserts[s] += p[s]
    b = section_bounds(lines)
    # Insert from the bottom up so earlier indices stay valid.
    for s in sorted(SECTIONS, key=lambda s: -b[s]):
        lines[b[s]:b[s]] = inserts[s]
    return "\n".join(lines) + "\n"


def items(block, section):
    """Splits a section's lines into (key, lines) items."""
    out = []
    for line in block:
        if ITEM[section].match(line):
            key = line.strip().rstrip(":")
            if section == "tags":
                key = line.split("name:", 1)[-1].strip()
            out.append([key, [line]])
        elif out:
            out[-1][1].append(line)
    return out


def split(full_text, owned):
    """owned: {module: {section: set(keys)}} -> (core_text, {module: part body lines per section}), new keys."""
    lines = full_text.rstrip("\n").split("\n")
    ranges = {}
    t = lines.index("tags:")
    te = t + 1
    while te < len(lines) and lines[te].startswith(" "):
        te += 1
    ranges["tags"] = (t + 1, te)
    p = lines.index("paths:")
    pe = p + 1
    while pe < len(lines) and (lines[pe].startswith(" ") or lines[pe] == ""):
        pe += 1
    ranges["paths"] = (p + 1, pe)
    s = lines.index("  schemas:")
    se = s + 1
    while se < len(lines) and (lines[se].startswith("    ") or lines[se] == ""):
        se += 1
    ranges["schemas"] = (s + 1, se)
    keep = {}
    packs = {m: {sec: [] for sec in SECTIONS} for m in owned}
    for sec in SECTIONS:
        a, b = ranges[sec]
        core_items = []
        for key, body in items(lines[a:b], sec):
            owner = next((m for m, o in owned.items() if key in o[sec]), None)
            if owner:
                packs[owner][sec].extend(body)
            else:
                core_items.append(body)
        keep[sec] = [l for body in core_items for l in body]
    out = []
    order = sorted(SECTIONS, key=lambda sec: ranges[sec][0])
    pos = 0
    for sec in order:
        a, b = ranges[sec]
        out += lines[pos:a] + keep[sec]
        pos = b
    out += lines[pos:]
    return "\n".join(out) + "\n", packs


def swift(literal_of, enum, comment):
    return (comment + "\n" + "enum " + enum + " {\n" + "    static let yaml = #\"\"\"\n" + literal_of + "\"\"\"#\n}\n")


def outputs():
    core = read(CORE)
    found = parts()
    texts = [read(p) for _, p in found]
    files = {FULL: assemble(core, texts),
             SERVER_SWIFT: swift(core, "OpenAPIDocument",
                                 "// Generated from docs/openapi/core.yaml by scripts/sync-openapi; the server adds the installed packs'\n"
                                 "// parts (ParleyPackKit's OpenAPIAssembly), and a test compares the result with docs/openapi.yaml.")}
    for module, path in found:
        rel = os.path.relpath(path, ROOT)
        files[os.path.join(os.path.dirname(path), "OpenAPIPart.swift")] = swift(
            read(path), "OpenAPIPart", "// Generated from " + rel + " by scripts/sync-openapi: this pack's part of the OpenAPI document.")
    return files


def check_literal(path, text):
    if not text.endswith("\n") or text.endswith("\n\n"):
        sys.exit(f"sync-openapi: {path} must end with exactly one newline")
    if "\r" in text or '"""#' in text or "\\#" in text:
        sys.exit(f"sync-openapi: {path} must not contain carriage returns, \"\"\"# or \\#")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else "assemble"
    if cmd == "split":
        owned = {}
        for module, path in parts():
            p = parse_part(read(path))
            owned[module] = {s: {k for k, _ in items(p[s], s)} for s in SECTIONS}
        core_text, packs = split(read(FULL), owned)
        core_items = split(core_text, {})[0]
        old_core = read(CORE)
        for s in SECTIONS:
            before = {k for k, _ in items(parse_section(old_core, s), s)}
            now = {k for k, _ in items(parse_section(core_items, s), s)}
            for k in sorted(now - before):
                print(f"sync-openapi: new {s[:-1]} '{k}' went to docs/openapi/core.yaml; move it to a pack's openapi.yaml if it is the pack's")
        with open(CORE, "w", encoding="utf-8") as f:
            f.write(core_text)
        for module, path in parts():
            head = [l for l in read(path).split("\n") if l.startswith("#")]
            body = head + [line for s in SECTIONS for line in ([s + ":"] + packs[module][s])]
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(body) + "\n")
        cmd = "assemble"
    files = outputs()
    for path in [CORE] + [p for _, p in parts()]:
        check_literal(os.path.relpath(path, ROOT), read(path))
    stale = [p for p, text in files.items() if not os.path.exists(p) or read(p) != text]
    if cmd == "check":
        for p in stale:
            print(f"sync-openapi: {os.path.relpath(p, ROOT)} is out of date; run scripts/sync-openapi", file=sys.stderr)
        sys.exit(1 if stale else 0)
    if cmd != "assemble":
        sys.exit("usage: scripts/sync-openapi [--check | --split]")
    for p in stale:
        with open(p, "w", encoding="utf-8") as f:
            f.write(files[p])
        print(f"wrote {os.path.relpath(p, ROOT)}")
    if not stale:
        print("the OpenAPI files are up to date")


def parse_section(text, section):
    lines = text.rstrip("\n").split("\n")
    if section == "schemas":
        s = lines.index("  schemas:")
        e = s + 1
        while e < len(lines) and (lines[e].startswith("    ") or lines[e] == ""):
            e += 1
        return lines[s + 1:e]
    t = lines.index(section + ":")
    e = t + 1
    while e < len(lines) and (lines[e].startswith(" ") or lines[e] == ""):
        e += 1
    return lines[t + 1:e]


if __name__ == "__main__":
    main()
