"""The HTML pages of `snakemake --report`: summary.md and the CSV tables as pages the report displays
(Snakemake's report shows HTML, images and PDFs inline; a .md or .csv would only be a download), the
answer's opening lines for the report's front page (report/workflow.rst embeds them), and the report
command to print after a run."""
from __future__ import annotations

import html
import os
import shlex
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 14px; line-height: 1.45;
       color: #1a1a1a; margin: 1.5em auto; padding: 0 1.5em; max-width: 80em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 12.5px; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.55em; text-align: left; vertical-align: top; }
th { background: #f2f4f7; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
blockquote { border-left: 4px solid #e0a800; margin: 1em 0; padding: 0.3em 1em; background: #fff8e1; }
code { background: #f2f2f2; padding: 0 0.25em; border-radius: 3px; }
p.note { color: #555; }
"""


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def markdown_html(text: str) -> str:
    """Markdown (summary.md: headings, pipe tables, block quotes, bold, code) as an HTML fragment."""
    import markdown

    return markdown.markdown(text, extensions=["tables", "sane_lists"], output_format="html")


def summary_page(text: str) -> str:
    """summary.md as a page of its own."""
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "Summary")
    return page(title, markdown_html(text))


def opening(text: str) -> str:
    """The answer's opening of summary.md: its title and one line per question, up to the first section."""
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    return "\n".join(lines[:end]).strip()


def answer_fragment(text: str) -> str:
    """The opening as an HTML fragment for the report's front page (no <html>: it is inlined there)."""
    body = markdown_html(opening(text)).replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return (f'<div class="xlt-answer">\n{body}\n<p>The full answer — confirmatory tables, choices made on English '
            f"dev, exploratory tables — is under <b>Answer</b>; figures under <b>Figures</b>; the numbers behind "
            f"them under <b>Tables</b>.</p>\n</div>\n")


def table_page(csv_path: str | os.PathLike, title: str, note: str = "") -> str:
    """A CSV table as an HTML table (numbers right-aligned, 4 significant digits; every row and column)."""
    frame = pd.read_csv(csv_path, keep_default_na=False, na_values=[""])
    if frame.empty:
        body = "<p>No rows (nothing to report here for this run).</p>"
    else:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
        rows = []
        for record in frame.itertuples(index=False):
            cells = []
            for value in record:
                if isinstance(value, float):
                    cells.append(f'<td class="num">{"" if pd.isna(value) else f"{value:.4g}"}</td>')
                elif isinstance(value, (int,)) and not isinstance(value, bool):
                    cells.append(f'<td class="num">{value}</td>')
                else:
                    cells.append(f"<td>{html.escape(str(value))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        body = f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    source = Path(csv_path).name
    intro = f"<h1>{html.escape(title)}</h1>\n<p class=\"note\">{html.escape(note)} From <code>{source}</code>: " \
            f"{len(frame)} rows; numbers rounded to 4 significant digits here, in full in the CSV.</p>\n"
    return page(title, intro + body)


def report_command(snakefile: str | os.PathLike, configfiles: list, workdir: str | os.PathLike,
                   shell_dir: str | None = None, out: str = "results/report/report.html") -> str:
    """The `snakemake --report` command that works after this run, as a user would type it: the run's
    own --configfile(s) (the demo's, say), -s when the Snakefile is not the working directory's, and a
    `cd` first when the run used -d (the shell's directory, $PWD, is not the working directory)."""
    workdir = Path(workdir).resolve()

    def shown(path) -> str:
        path = Path(path).resolve()
        return str(path.relative_to(workdir)) if path.is_relative_to(workdir) else str(path)

    parts = ["snakemake", "--report", out]
    if Path(snakefile).resolve() != workdir / "Snakefile":
        parts += ["-s", shown(snakefile)]
    for configfile in configfiles:
        parts += ["--configfile", shown(configfile)]
    command = shlex.join(parts)
    if shell_dir and Path(shell_dir).resolve() != workdir:
        command = f"cd {shlex.quote(str(workdir))} && {command}"
    return command
