"""A paper's LaTeX source as one text: `\\input`, `\\include`, `\\subfile`, `\\import` followed the way
TeX finds files, comments and switched-off text removed, the author's simple macros collected.

TeX resolves `\\input{name}` against its working directory, which is the main file's folder, trying
`name.tex` before `name`; the `import` and `subfiles` packages also look beside the file that asks.
Both are tried here, in that order, never outside the paper's folder. A file that cannot be found
is reported and skipped: only what it held is lost, not the paper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_INCLUDE = re.compile(r"\\(?P<cmd>input|include|subfile)\s*(?:\{(?P<name>[^}]+)\}|(?<=\s)(?P<bare>[^\s\\{}%]+))"
                      r"|\\(?P<icmd>subimport|import|inputfrom|subinputfrom|includefrom|subincludefrom)\*?\s*"
                      r"\{(?P<dir>[^}]*)\}\s*\{(?P<iname>[^}]+)\}")
_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_COMMENT_ENV = re.compile(r"\\begin\{comment\}.*?\\end\{comment\}", re.DOTALL)
_IFFALSE = re.compile(r"\\if(?:false|0)\b.*?\\fi\b", re.DOTALL)


@dataclass
class Tree:
    """The expanded source and what went wrong while reading it."""

    text: str
    main: Path
    root: Path
    files: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def strip_comments(text: str) -> str:
    """Drop `% …` to the end of each line (an escaped `\\%` stays), comment environments and
    `\\iffalse … \\fi` blocks (not nested)."""
    text = re.sub(r"(?<!\\)%[^\n]*", "", text)
    text = _COMMENT_ENV.sub("", text)
    return _IFFALSE.sub("", text)


def _candidates(name: str, folders: list[Path]) -> list[Path]:
    name = name.strip().strip('"')
    out = []
    for folder in folders:
        out += [folder / f"{name}.tex", folder / name] if not name.endswith(".tex") else [folder / name]
    return out


def resolve(name: str, current: Path, main_dir: Path, root: Path, subdir: str = "") -> Path | None:
    """The file `\\input{NAME}` reads: beside the main file first (TeX's working directory), then
    beside the current file; inside ROOT only."""
    folders = [main_dir / subdir, current.parent / subdir] if subdir else [main_dir, current.parent]
    for candidate in _candidates(name, folders):
        if candidate.is_file() and candidate.resolve().is_relative_to(root.resolve()):
            return candidate
    return None


def read_tree(main: Path, root: Path) -> Tree:
    """MAIN with every included file in place (recursively, 30 deep at most)."""
    main, root = Path(main), Path(root)
    tree = Tree("", main, root, files=[main])

    def expand(path: Path, depth: int, base: Path) -> str:
        text = strip_comments(path.read_text(encoding="utf-8", errors="replace"))
        if path != main and _DOCUMENT.search(text) and "\\documentclass" in text:
            # A \subfile (or a standalone file) brings only its document body.
            text = text[_DOCUMENT.search(text).end():].split("\\end{document}")[0]

        def include(match: re.Match) -> str:
            name = match.group("name") or match.group("bare") or match.group("iname")
            subdir = match.group("dir") or ""
            command = match.group("cmd") or match.group("icmd")
            if match.group("bare") and command != "input":
                return match.group(0)
            if depth >= 30:
                tree.missing.append(f"{path.name}: \\{command}{{{name}}} nested more than 30 deep (a cycle?)")
                return ""
            if command.startswith("sub") and command != "subfile":  # \subimport: relative to this file
                found = resolve(name, path, path.parent, root, subdir)
            else:
                found = resolve(name, path, base, root, subdir)
            if found is None:
                tree.missing.append(f"\\{command}{{{subdir}{name}}} in {path.relative_to(root)}: file not found")
                return ""
            if found.suffix.lower() not in ("", ".tex", ".tikz", ".pgf", ".ltx", ".sty") and command in ("input", "include"):
                return match.group(0)  # e.g. \input of a .pdf_tex is left to \includegraphics logic
            tree.files.append(found)
            inner = expand(found, depth + 1, base if not command.startswith(("import", "subimport")) else found.parent)
            return ("\n" + inner + "\n") if command != "include" else "\n\n" + inner + "\n\n"

        return _INCLUDE.sub(include, text)

    tree.text = expand(main, 0, main.parent)
    return tree


def preamble_and_body(text: str) -> tuple[str, str]:
    begin = _DOCUMENT.search(text)
    if not begin:
        return "", text
    return text[:begin.start()], text[begin.end():].split("\\end{document}")[0]


def read_group(text: str, start: int, skip_space: bool = False) -> tuple[str, int] | None:
    """The `{…}` group opening at START (nested groups kept) and the index after it; SKIP_SPACE: the
    group may follow blanks and newlines (a command's argument may)."""
    while skip_space and start < len(text) and text[start] in " \t\n":
        start += 1
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    index = start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:index], index + 1
        index += 1
    return None


@dataclass
class Macro:
    body: str
    arguments: int = 0
    default: str | None = None  # the optional first argument's default


def collect_macros(text: str, folder: Path | None = None) -> dict[str, Macro]:
    """`\\newcommand`, `\\renewcommand`, `\\providecommand`, `\\DeclareRobustCommand` and `\\def`
    definitions (with up to 9 arguments) in TEXT and in the paper's own `.sty` files it loads."""
    sources = [text]
    if folder is not None:
        for match in re.finditer(r"\\usepackage\s*(?:\[[^\]]*\])?\s*\{([^}]+)\}", text):
            for name in match.group(1).split(","):
                local = folder / f"{name.strip()}.sty"
                if local.is_file():
                    sources.append(strip_comments(local.read_text(errors="replace")))
    macros: dict[str, Macro] = {}
    for source in sources:
        for match in re.finditer(r"\\(?:re)?(?:newcommand|providecommand|DeclareRobustCommand)\*?\s*"
                                 r"\{?\\([A-Za-z@]+)\}?\s*(?:\[(\d)\])?\s*(?:\[([^\]]*)\])?\s*(?=\{)", source):
            group = read_group(source, match.end())
            if group is not None and match.group(1) not in macros:
                macros[match.group(1)] = Macro(group[0], int(match.group(2) or 0), match.group(3))
        for match in re.finditer(r"\\(?:g|e|x)?def\s*\\([A-Za-z@]+)((?:#\d)*)\s*(?=\{)", source):
            group = read_group(source, match.end())
            if group is not None and match.group(1) not in macros:
                macros[match.group(1)] = Macro(group[0], len(match.group(2)) // 2)
    return macros


def expand_macros(text: str, macros: dict[str, Macro], rounds: int = 4) -> str:
    """TEXT with the author's macros replaced by their bodies (arguments substituted)."""
    if not macros:
        return text
    pattern = re.compile(r"\\(" + "|".join(sorted(map(re.escape, macros), key=len, reverse=True)) + r")(?![A-Za-z@])")
    for _ in range(rounds):
        changed = False
        out, position = [], 0
        for match in pattern.finditer(text):
            if match.start() < position:
                continue
            macro = macros[match.group(1)]
            end = match.end()
            args: list[str] = []
            if macro.default is not None:
                optional = re.match(r"\s*\[([^\]]*)\]", text[end:])
                if optional:
                    args.append(optional.group(1))
                    end += optional.end()
                else:
                    args.append(macro.default)
            while len(args) < macro.arguments:
                spaces = len(text[end:]) - len(text[end:].lstrip())
                group = read_group(text, end + spaces)
                if group is None:
                    single = text[end + spaces:end + spaces + 1]
                    args.append(single)
                    end += spaces + 1
                else:
                    args.append(group[0])
                    end = group[1]
            body = macro.body
            for number, value in enumerate(args, start=1):
                body = body.replace(f"#{number}", value)
            if macro.arguments == 0 and text[end:end + 2] == "{}":
                end += 2  # `\method{}` is the author's way to keep the space after it
            out.append(text[position:match.start()] + body)
            position = end
            changed = True
        out.append(text[position:])
        text = "".join(out)
        if not changed:
            break
    return text


def graphics_dirs(text: str, main_dir: Path) -> list[Path]:
    """The folders `\\includegraphics` searches: the main file's, then each `\\graphicspath` entry."""
    dirs = [main_dir]
    for match in re.finditer(r"\\graphicspath\s*\{((?:\s*\{[^}]*\}\s*)+)\}", text):
        dirs += [main_dir / d for d in re.findall(r"\{([^}]*)\}", match.group(1))]
    return dirs
