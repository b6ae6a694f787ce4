#!/usr/bin/env python3
"""Runs Doxygen over libwire's public headers and fails, listing each problem, unless
every public declaration is documented and every class states its thread-safety.

Used by `make docs` (HTML kept in the build tree) and by the ctest test docs_doxygen
(a throw-away directory). Exit 0 clean, 1 problems found, 77 Doxygen missing (ctest skip).
"""
import argparse
import collections
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def run_doxygen(doxygen, doxyfile, out, html):
    """Runs Doxygen with the project's Doxyfile, redirected to `out`; returns its warnings."""
    log = out / "warnings.log"
    overrides = (f"\nOUTPUT_DIRECTORY = {out}\nWARN_LOGFILE = {log}\n"
                 f"GENERATE_XML = YES\nGENERATE_HTML = {'YES' if html else 'NO'}\n")
    config = pathlib.Path(doxyfile).read_text() + overrides
    run = subprocess.run([doxygen, "-"], input=config, text=True, capture_output=True)
    if run.returncode != 0:
        sys.exit(f"doxygen failed ({run.returncode}):\n{run.stderr}")
    text = log.read_text() if log.exists() else ""
    # Doxygen repeats an inherited member's warning once per derived class: keep one.
    return sorted(set(line for line in text.splitlines() if line.strip()))


def description_text(node):
    """The plain text of a compound's own brief and detailed descriptions."""
    parts = []
    for tag in ("briefdescription", "detaileddescription"):
        element = node.find(tag)
        if element is not None:
            parts.append("".join(element.itertext()))
    return " ".join(parts)


def has_public_functions(compound):
    """True if the class has methods a caller could invoke (plain option structs have none)."""
    return any(member.get("kind") == "function" and member.get("prot") == "public"
               for member in compound.iter("memberdef"))


def header_path(name, source_dir):
    """Doxygen's XML strips include paths ("wire/tcp.hpp"); name the header as warnings do."""
    for base in (pathlib.Path(source_dir) / "include", pathlib.Path(source_dir)):
        if (base / name).exists():
            return str(base / name)
    return name


def file_descriptions(xml_dir):
    """Each header's own documentation (a `/// @file` comment), keyed by its path."""
    texts = {}
    for path in xml_dir.glob("*_8hpp.xml"):
        compound = ET.parse(path).getroot().find("compounddef")
        location = compound.find("location") if compound is not None else None
        if location is not None:
            texts[location.get("file")] = description_text(compound)
    return texts


def missing_thread_safety(xml_dir, source_dir):
    """Classes with methods whose comment, or whose header's `/// @file` comment, does not say
    how threads may share them."""
    missing = []
    files = file_descriptions(xml_dir)
    for path in sorted(xml_dir.glob("*.xml")):
        if not path.name.startswith(("class", "struct")):
            continue
        compound = ET.parse(path).getroot().find("compounddef")
        name = compound.findtext("compoundname") if compound is not None else ""
        # std:: specialisations (is_error_code_enum) are traits, not objects anyone shares.
        if not name.startswith("wire::") or compound.get("prot") not in (None, "public"):
            continue
        if not has_public_functions(compound):
            continue
        location = compound.find("location")
        said = description_text(compound) + files.get(location.get("file"), "")
        if not re.search(r"thread", said, re.IGNORECASE):
            where = header_path(location.get("file", "?"), source_dir)
            missing.append(f"{where}:{location.get('line', '?')}: {name} does not state its "
                           "thread-safety ('Thread-safety: ...' in its /// comment or in the "
                           "header's /// @file comment)")
    return missing


def report(problems, source_dir):
    """Prints the problems grouped by header, most first, so a new header's gaps stand out."""
    by_file = collections.defaultdict(list)
    for problem in problems:
        problem = problem.replace(source_dir.rstrip("/") + "/", "")
        by_file[problem.split(":", 1)[0]].append(problem)
    print(f"docs: {len(problems)} documentation problem(s) in the public headers; "
          "every public declaration needs a /// comment:", file=sys.stderr)
    for header, lines in sorted(by_file.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"\n{header}: {len(lines)}", file=sys.stderr)
        for line in lines:
            print(f"  {line}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--doxygen", default="doxygen")
    parser.add_argument("--doxyfile", required=True)
    parser.add_argument("--source-dir", required=True, help="stripped from reported paths")
    parser.add_argument("--output", help="keep the output here (default: a temporary dir)")
    parser.add_argument("--html", action="store_true", help="also generate the HTML reference")
    args = parser.parse_args()
    doxygen = shutil.which(args.doxygen)
    if doxygen is None:
        print(f"docs: {args.doxygen} not found; skipping (scripts/bootstrap installs it)")
        return 77
    with tempfile.TemporaryDirectory(prefix="wire-docs-") as scratch:
        out = pathlib.Path(args.output or scratch).resolve()
        out.mkdir(parents=True, exist_ok=True)
        problems = run_doxygen(doxygen, args.doxyfile, out, args.html)
        problems += missing_thread_safety(out / "xml", args.source_dir)
        if problems:
            report(problems, args.source_dir)
            return 1
        where = f"; HTML in {out / 'html'}" if args.html else ""
        print(f"docs: Doxygen clean, every public declaration documented{where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
