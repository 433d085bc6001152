"""The README is a map (short) and docs/ holds one page per concern: every relative link and image in them
points to a file that exists and, where it names a #anchor in a markdown file, to a heading of that file;
every `python -m xlt.…` command and xlt/ path they (and the config, Makefile, rules) name exists."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 220

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
HTML_SRC = re.compile(r"""<(?:img|a)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def pages(root=ROOT):
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def prose_lines(text):
    """The lines of a markdown text outside fenced code blocks, with inline code removed."""
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield INLINE_CODE.sub("", line)


def slug(heading):
    """GitHub's anchor for a heading: its text (links reduced to their text, code and emphasis marks
    dropped), lowercased, every character but letters, digits, spaces, - and _ removed, spaces -> -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path):
    """Every anchor GitHub gives the headings of a markdown file (repeats get -1, -2, ...)."""
    seen, out = {}, set()
    fenced = False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        m = None if fenced else HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def targets(path):
    """(line number, target) of every link and image in a markdown file, code excluded."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = INLINE_CODE.sub("", line)
        for m in [*LINK.finditer(line), *HTML_SRC.finditer(line)]:
            yield number, m.group(1)


def broken_links(files):
    """'file:line: target (why)' for every relative link that does not resolve."""
    problems = []
    for path in files:
        for number, target in targets(path):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
                continue  # http:, https:, mailto:: not checked here
            where, _, anchor = target.partition("#")
            dest = (path.parent / where).resolve() if where else path
            label = f"{path.name}:{number}: {target}"
            if not dest.exists():
                problems.append(f"{label} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{label} (no heading with that anchor in {dest.name})")
    return problems


def test_readme_is_a_map():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_every_docs_page_is_listed_in_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for _, t in targets(ROOT / "README.md")}
    missing = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked]
    assert not missing, f"docs pages the README does not link to: {missing}"


def test_every_relative_link_and_image_resolves():
    problems = broken_links(pages())
    assert not problems, "\n".join(problems)


def test_the_check_finds_a_missing_file_a_missing_anchor_and_ignores_code(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# Adversarial training (the `{variant}` dimension)\n\n## Speed: the fast path\n"
        "## Speed: the fast path\n\n```bash\n# not a heading\n[x](nowhere.md)\n```\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md) [ok](docs/a.md#adversarial-training-the-variant-dimension) "
        "[ok](docs/a.md#speed-the-fast-path-1) [ok](https://example.org/x) `[code](gone.md)`\n"
        "[bad](docs/b.md) ![bad](docs/gone.png) [bad](docs/a.md#not-a-heading) [bad](#nothing-here)\n")
    problems = broken_links(pages(tmp_path))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "docs/b.md (no such file)", "docs/gone.png (no such file)",
        "docs/a.md#not-a-heading (no heading with that anchor in a.md)",
        "#nothing-here (no heading with that anchor in README.md)"], problems
    assert slug("The answer: statistics, figures, report") == "the-answer-statistics-figures-report"


# where the project tells people what to run and where the code is
NAMING = ["README.md", "docs/*.md", "config.yaml", "config/*.yaml", "Makefile", "profiles/**/*.yaml",
          "scripts/*.sh", "rules/*.smk", "Snakefile"]
COMMAND = re.compile(r"-m (xlt(?:\.\w+)*)")
SOURCE_PATH = re.compile(r"\bxlt/[\w/.-]*\w")


def named(pattern, root=ROOT):
    """{name the pattern matches: [files that name it]} over the NAMING files."""
    out = {}
    for glob in NAMING:
        for path in sorted(root.glob(glob)):
            for m in pattern.finditer(path.read_text()):
                out.setdefault(m.group(1) if pattern.groups else m.group(0), []).append(path.relative_to(root).as_posix())
    return out


def test_every_documented_command_is_a_runnable_module():
    """`python -m xlt.…` as the docs, config and Makefile write it: the module exists and runs as a script
    (after the re-layout every command moved; a stale name would fail only in a user's shell)."""
    commands = named(COMMAND)
    assert "xlt.analysis.planning" in commands and "xlt.bench.gpucheck" in commands
    problems = []
    for module, where in sorted(commands.items()):
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.exists():
            problems.append(f"{module} ({', '.join(sorted(set(where)))}): no such module")
        elif 'if __name__ == "__main__":' not in path.read_text():
            problems.append(f"{module} ({', '.join(sorted(set(where)))}): not runnable with python -m")
    assert not problems, "\n".join(problems)


def test_every_source_path_the_docs_name_exists():
    paths = named(SOURCE_PATH)
    assert "xlt/workflow/schema.yaml" in paths
    missing = [f"{p} ({', '.join(sorted(set(w)))})" for p, w in sorted(paths.items()) if not (ROOT / p).exists()]
    assert not missing, "paths named in the docs that do not exist:\n" + "\n".join(missing)


def test_methods_calibration_table_is_the_simulations_output():
    """docs/methods.md's table of how often the calibration rule trains each radius is what `python -m
    xlt.analysis.calibration_simulation` prints (the project's own choice rule, fixed seed)."""
    from xlt.analysis.calibration_simulation import table

    assert table() in (ROOT / "docs" / "methods.md").read_text(), \
        "docs/methods.md's calibration table is stale: paste `python -m xlt.analysis.calibration_simulation`"


def test_the_study_reasoning_quotes_the_plans_numbers(study_workdir):
    """docs/study.md's "The designs and why" (the reasoning moved out of config.yaml): every number it gives in
    points or GPU-hours is one `python -m xlt.analysis.planning` prints for the study, so none goes stale."""
    import re
    import subprocess
    import sys

    plan = subprocess.run([sys.executable, "-m", "xlt.analysis.planning", "--configfile", str(ROOT / "config.yaml")],
                          capture_output=True, text=True, check=True, cwd=study_workdir).stdout
    printed = set(re.findall(r"\d[\d,]*(?:\.\d+)?", plan))
    text = (ROOT / "docs" / "study.md").read_text().split("## The designs and why")[1].split("\n## ")[0]
    quoted = re.findall(r"((?:\d[\d,]*(?:\.\d+)?\s*/\s*)*\d[\d,]*(?:\.\d+)?)\s*(?:points|GPU-hours)", text)
    numbers = [n for group in quoted for n in re.split(r"\s*/\s*", group)]
    assert len(numbers) >= 8, numbers
    assert not [n for n in numbers if n not in printed], [n for n in numbers if n not in printed]


def test_config_yaml_is_settings_with_at_most_two_comment_lines_per_key():
    """config.yaml holds settings: each key has at most two comment lines (the full-line comments right above it
    and its own trailing comment), what it does and its allowed values; the reasoning lives in docs/study.md."""
    lines = (ROOT / "config.yaml").read_text().splitlines()
    above, worst = 0, {}
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            above += 1
            continue
        if stripped and ":" in stripped:
            key = stripped.split(":")[0]
            worst[key] = max(worst.get(key, 0), above + ("#" in stripped.split(":", 1)[1]))
        above = 0 if stripped else above
    assert max(worst.values()) <= 2, {k: v for k, v in worst.items() if v > 2}
