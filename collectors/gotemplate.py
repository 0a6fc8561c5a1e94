"""Syntax of Go's text/template, as `promtool check rules` checks an alerting rule's labels and annotations.

Prometheus's rulefmt parses every label and annotation value of an alerting rule as a template (after
`{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`,
with Prometheus's template functions), and refuses the rule when the parse fails. No maintained Python library
parses Go templates, so this is a port of the lexer and parser of Go 1.19's text/template/parse (what the
Debian promtool 2.42 here is built with): what it accepts and refuses, not what a template prints. Execution
errors (a field that is missing, a wrong argument count) are not parse errors: promtool accepts them too.
tests/collectors/test_gotemplate.py compares both on generated cases.
"""

from __future__ import annotations

import math
import re

# Prometheus 2.42's template functions (template/template.go), then Go 1.19's builtins (text/template/funcs.go)
FUNCTIONS = frozenset(
    (
        "query first label value strvalue args reReplaceAll safeHtml match title toUpper toLower graphLink"
        " tableLink sortByLabel humanize humanize1024 humanizeDuration humanizePercentage humanizeTimestamp"
        " toTime pathPrefix externalURL parseDuration stripPort stripDomain"
        " and call html index slice js len not or print printf println urlquery eq ge gt le lt ne"
    ).split()
)
# the variables rulefmt's definitions give the text (in its main template only, not in a {{define}})
PROMETHEUS_VARS = ("$labels", "$externalLabels", "$externalURL", "$value")

_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with"}
_SPACE = " \t\r\n"
_TERMINATORS = " \t\r\n.,|:)("


class TemplateError(Exception):
    """The first syntax error, in Go's words: `line: message` (the line within the template text)."""


# token kinds
TEXT, LEFT, RIGHT, SPACE, ASSIGN, DECLARE, PIPE, STRING, RAW, VARIABLE, CHAR, CHARCONST = range(12)
NUMBER, COMPLEX, DOT, FIELD, IDENT, BOOL, LPAREN, RPAREN, KEYWORD, COMMENT, EOF = range(12, 23)


def _alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdecimal()


def _lex(s: str) -> list[tuple[int, str, int]]:
    """Tokens (kind, text, line) up to the end or a lexical error (raised)."""
    out: list[tuple[int, str, int]] = []
    n = len(s)
    pos = 0

    def line_at(i: int) -> int:
        return s.count("\n", 0, i) + 1

    def err(msg: str, at: int) -> TemplateError:
        return TemplateError(f"{line_at(at)}: {msg}")

    def right_delim(i: int) -> tuple[bool, bool]:
        if i + 1 < n and s[i] in _SPACE and s[i + 1] == "-" and s.startswith("}}", i + 2):
            return True, True
        return s.startswith("}}", i), False

    def terminator(i: int) -> bool:
        return i >= n or s[i] in _TERMINATORS or s.startswith("}}", i)

    while True:
        x = s.find("{{", pos)
        if x < 0:
            if pos < n:
                out.append((TEXT, s[pos:], line_at(pos)))
            out.append((EOF, "", line_at(n)))
            return out
        trim_left = s[x + 2 : x + 3] == "-" and s[x + 3 : x + 4] != "" and s[x + 3] in _SPACE
        text = s[pos:x].rstrip(_SPACE) if trim_left else s[pos:x]
        if text:
            out.append((TEXT, text, line_at(pos)))
        i = x + 2 + (2 if trim_left else 0)
        if s.startswith("/*", i):  # a comment: the whole action
            end = s.find("*/", i + 2)
            if end < 0:
                raise err("unclosed comment", i)
            i = end + 2
            delim, trim = right_delim(i)
            if not delim:
                raise err("comment ends before closing delimiter", i)
            i += 4 if trim else 2
            if trim:
                i = len(s) - len(s[i:].lstrip(_SPACE))
            pos = i
            continue
        out.append((LEFT, "{{", line_at(x)))
        depth = 0
        while True:  # inside the action
            delim, trim = right_delim(i)
            if delim:
                if depth:
                    raise err("unclosed left paren", i)
                i += 4 if trim else 2
                out.append((RIGHT, "}}", line_at(i)))
                if trim:
                    i = len(s) - len(s[i:].lstrip(_SPACE))
                break
            if i >= n:
                raise err("unclosed action", i)
            c = s[i]
            start = i
            if c in _SPACE:
                j = i
                while j < n and s[j] in _SPACE:
                    j += 1
                # " -}}": the space before a trim marker belongs to the delimiter
                if j - 1 > i - 1 and s[j - 1] in _SPACE and s.startswith("-}}", j):
                    if j - i == 1:
                        i = j - 1
                        continue
                    j -= 1
                out.append((SPACE, s[i:j], line_at(i)))
                i = j
            elif c == "=":
                out.append((ASSIGN, c, line_at(i)))
                i += 1
            elif c == ":":
                if s[i + 1 : i + 2] != "=":
                    raise err("expected :=", i)
                out.append((DECLARE, ":=", line_at(i)))
                i += 2
            elif c == "|":
                out.append((PIPE, c, line_at(i)))
                i += 1
            elif c == '"' or c == "'":
                j = i + 1
                while True:
                    if j >= n or s[j] == "\n":
                        kind = "quoted string" if c == '"' else "character constant"
                        raise err(f"unterminated {kind}", i)
                    if s[j] == "\\":
                        if j + 1 >= n or s[j + 1] == "\n":
                            kind = "quoted string" if c == '"' else "character constant"
                            raise err(f"unterminated {kind}", i)
                        j += 2
                        continue
                    if s[j] == c:
                        break
                    j += 1
                out.append((STRING if c == '"' else CHARCONST, s[i : j + 1], line_at(i)))
                i = j + 1
            elif c == "`":
                j = s.find("`", i + 1)
                if j < 0:
                    raise err("unterminated raw quoted string", i)
                out.append((RAW, s[i : j + 1], line_at(i)))
                i = j + 1
            elif c == "$" or (c == "." and not (i + 1 < n and "0" <= s[i + 1] <= "9")):
                j = i + 1
                if terminator(j):
                    out.append((VARIABLE if c == "$" else DOT, c, line_at(i)))
                    i = j
                    continue
                while j < n and _alnum(s[j]):
                    j += 1
                if not terminator(j):
                    raise err(f"bad character {_u(s[j])}", j)
                out.append((VARIABLE if c == "$" else FIELD, s[i:j], line_at(i)))
                i = j
            elif c in "+-." or "0" <= c <= "9":
                j, ok = _scan_number(s, i)
                if ok and j < n and s[j] in "+-":  # complex: 1+2i
                    j, ok = _scan_number(s, j)
                    ok = ok and s[j - 1] == "i"
                    kind = COMPLEX
                else:
                    kind = NUMBER
                if not ok:
                    raise err(f"bad number syntax: {s[start:j]!r}", i)
                out.append((kind, s[i:j], line_at(i)))
                i = j
            elif _alnum(c):
                j = i
                while j < n and _alnum(s[j]):
                    j += 1
                if not terminator(j):
                    raise err(f"bad character {_u(s[j])}", j)
                word = s[i:j]
                if word in _KEYWORDS:
                    out.append((KEYWORD, word, line_at(i)))
                elif word in ("true", "false"):
                    out.append((BOOL, word, line_at(i)))
                else:
                    out.append((IDENT, word, line_at(i)))
                i = j
            elif c == "(":
                depth += 1
                out.append((LPAREN, c, line_at(i)))
                i += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    raise err("unexpected right paren", i)
                out.append((RPAREN, c, line_at(i)))
                i += 1
            elif " " <= c <= "~":
                out.append((CHAR, c, line_at(i)))
                i += 1
            else:
                raise err(f"unrecognized character in action: {_u(c)}", i)
        pos = i


def _u(c: str) -> str:
    return f"U+{ord(c):04X} {c!r}"


def _scan_number(s: str, i: int) -> tuple[int, bool]:
    """Go's lexer scanNumber from i: (end, whether no letter or digit follows what it read)."""
    n = len(s)

    def accept(j: int, chars: str) -> int:
        return j + 1 if j < n and s[j] in chars else j

    def run(j: int, chars: str) -> int:
        while j < n and s[j] in chars:
            j += 1
        return j

    j = accept(i, "+-")
    digits = "0123456789_"
    if j < n and s[j] == "0":
        j += 1
        if j < n and s[j] in "xX":
            j, digits = j + 1, "0123456789abcdefABCDEF_"
        elif j < n and s[j] in "oO":
            j, digits = j + 1, "01234567_"
        elif j < n and s[j] in "bB":
            j, digits = j + 1, "01_"
    j = run(j, digits)
    if j < n and s[j] == ".":
        j = run(j + 1, digits)
    if len(digits) == 11 and j < n and s[j] in "eE":
        j = run(accept(j + 1, "+-"), "0123456789_")
    if len(digits) == 23 and j < n and s[j] in "pP":
        j = run(accept(j + 1, "+-"), "0123456789_")
    j = accept(j, "i")
    if j < n and _alnum(s[j]):
        return j + 1, False
    return j, True


# ---- literals, as strconv reads them

_GO_INT = re.compile(r"[+-]?(0[xX](_?[0-9a-fA-F])+|0[bB](_?[01])+|0[oO](_?[0-7])+|0(_?[0-7])*|[1-9](_?[0-9])*)")
_GO_DEC_FLOAT = re.compile(
    r"[+-]?(([0-9](_?[0-9])*\.([0-9](_?[0-9])*)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?"
    r"|[0-9](_?[0-9])*[eE][+-]?[0-9](_?[0-9])*)"
)
_GO_HEX_FLOAT = re.compile(r"[+-]?0[xX](_?[0-9a-fA-F])*(\.([0-9a-fA-F](_?[0-9a-fA-F])*)?)?[pP][+-]?[0-9](_?[0-9])*")
_GO_DEC = re.compile(r"[+-]?[0-9](_?[0-9])*")


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, ...) without its range: the value, or None (0x/0o/0b, a leading 0 is octal)."""
    if not _GO_INT.fullmatch(text):
        return None
    body = text.lstrip("+-").replace("_", "")
    sign = -1 if text.startswith("-") else 1
    if len(body) > 1 and body[0] == "0" and body[1] not in "xXbBoO":
        return sign * int(body, 8)
    return sign * int(body, 0)


def _number_ok(text: str) -> str | None:
    """None when parse.newNumber takes the text (as an imaginary, unsigned, signed or float number), else Go's
    error."""
    if text.endswith("i") and _float_ok(text[:-1]):
        return None
    v = _go_int(text)
    if v is not None and (-(2**63) <= v < 2**63 or (text[0] not in "+-" and v < 2**64)):
        return None
    if _float_ok(text):
        if not any(c in text for c in ".eEpP"):
            return f"integer overflow: {text!r}"
        return None
    return f"illegal number syntax: {text!r}"


def _float_ok(text: str) -> bool:
    """Whether strconv.ParseFloat(text, 64) reads it: Go's syntax (no inf/nan: the lexer gives no such number),
    and not out of range (1e400)."""
    if not text:
        return False
    if _GO_HEX_FLOAT.fullmatch(text):
        try:
            return math.isfinite(float.fromhex(text.replace("_", "")))
        except (ValueError, OverflowError):
            return False
    if _GO_DEC_FLOAT.fullmatch(text) or _GO_DEC.fullmatch(text):
        return math.isfinite(float(text.replace("_", "")))
    return False


def _complex_ok(text: str) -> bool:
    """Whether fmt.Sscan reads a complex number from the lexer's `1+2i` (what parse.newNumber asks it): a float,
    a sign, a float, `i`; each float as strconv.ParseFloat reads it."""

    def float_token(i: int) -> int:  # fmt's floatToken (the lexer gives no NaN or Inf)
        n = len(text)
        if i < n and text[i] in "+-":
            i += 1
        digits, exp = "0123456789_", "eEpP"
        if text.startswith(("0x", "0X"), i):
            i, digits, exp = i + 2, "0123456789abcdefABCDEF_", "pP"
        while i < n and text[i] in digits:
            i += 1
        if i < n and text[i] == ".":
            i += 1
            while i < n and text[i] in digits:
                i += 1
        if i < n and text[i] in exp:
            i += 1
            if i < n and text[i] in "+-":
                i += 1
            while i < n and text[i] in "0123456789_":
                i += 1
        return i

    k = float_token(0)
    if k >= len(text) or text[k] not in "+-":
        return False
    m = float_token(k)
    return text[m : m + 1] == "i" and _float_ok(text[:k]) and _float_ok(text[k:m])


_ESCAPES = {"a", "b", "f", "n", "r", "t", "v", "\\"}


def _unquote_char(s: str, i: int, quote: str) -> int:
    """strconv.UnquoteChar at s[i]: the index after the character, or -1."""
    c = s[i]
    if c == quote and quote in "'\"":
        return -1
    if c != "\\":
        return i + 1
    if i + 1 >= len(s):
        return -1
    e = s[i + 1]
    if e in _ESCAPES:
        return i + 2
    if e in "'\"":
        return i + 2 if e == quote else -1
    if e in "xuU":
        k = {"x": 2, "u": 4, "U": 8}[e]
        h = s[i + 2 : i + 2 + k]
        if len(h) != k or not all(ch in "0123456789abcdefABCDEF" for ch in h):
            return -1
        v = int(h, 16)
        if e != "x" and (v > 0x10FFFF or 0xD800 <= v <= 0xDFFF):
            return -1
        return i + 2 + k
    if "0" <= e <= "7":
        o = s[i + 1 : i + 4]
        if len(o) != 3 or not all("0" <= ch <= "7" for ch in o) or int(o, 8) > 255:
            return -1
        return i + 4
    return -1


def _unquote(text: str) -> bool:
    """Whether strconv.Unquote reads a "..." or `...` literal."""
    if text[0] == "`":
        return True
    i, end = 1, len(text) - 1
    while i < end:
        i = _unquote_char(text, i, '"')
        if i < 0:
            return False
    return i == end


def _char_ok(text: str) -> bool:
    """Whether a '...' constant is one character (strconv.UnquoteChar and nothing after it)."""
    if len(text) < 3:
        return False
    return _unquote_char(text, 1, "'") == len(text) - 1


# ---- the parser (text/template/parse/parse.go)


class _Parser:
    def __init__(self, tokens: list[tuple[int, str, int]], functions: frozenset[str]):
        self.toks = tokens
        self.i = 0
        self.funcs = functions
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.defined: set[str] = set()

    def error(self, msg: str, tok: tuple[int, str, int] | None = None) -> TemplateError:
        line = (tok or self.toks[min(self.i, len(self.toks) - 1)])[2]
        return TemplateError(f"{line}: {msg}")

    def next(self) -> tuple[int, str, int]:
        t = self.toks[self.i]
        self.i += 1
        return t

    def peek(self) -> tuple[int, str, int]:
        return self.toks[self.i]

    def next_non_space(self) -> tuple[int, str, int]:
        t = self.next()
        while t[0] == SPACE:
            t = self.next()
        return t

    def peek_non_space(self) -> tuple[int, str, int]:
        t = self.next_non_space()
        self.i -= 1
        return t

    def unexpected(self, tok: tuple[int, str, int], context: str) -> TemplateError:
        return self.error(f"unexpected {_show(tok)} in {context}", tok)

    def expect(self, kind: int, context: str) -> tuple[int, str, int]:
        t = self.next_non_space()
        if t[0] != kind:
            raise self.unexpected(t, context)
        return t

    # parse(): the top level, where {{define}} may be
    def parse(self, main_vars: tuple[str, ...], name: str) -> None:
        self.vars = ["$", *main_vars]
        while self.peek()[0] != EOF:
            if self.peek()[0] == LEFT:
                save = self.i
                self.next()
                t = self.next_non_space()
                if t[0] == KEYWORD and t[1] == "define":
                    self.definition()
                    continue
                self.i = save
            kind, node = self.text_or_action()
            if kind in ("end", "else"):
                raise self.error(f"unexpected {{{{{kind}}}}}")
        self._add(name, False)  # the main template itself, never empty (rulefmt's definitions)

    def definition(self) -> None:
        t = self.next_non_space()
        if t[0] not in (STRING, RAW):
            raise self.unexpected(t, "define clause")
        if not _unquote(t[1]):
            raise self.error("invalid syntax", t)
        self.expect(RIGHT, "define clause")
        outer, outer_depth = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        empty, end = self.item_list()
        if end != "end":
            raise self.error(f"unexpected {{{{{end}}}}} in define clause")
        self._add(_literal(t[1]), empty)
        self.vars, self.range_depth = outer, outer_depth

    def _add(self, name: str, empty: bool) -> None:
        if not empty:
            if name in self.defined:
                raise self.error(f"template: multiple definition of template {name!r}")
            self.defined.add(name)

    def item_list(self) -> tuple[bool, str]:
        """Nodes up to {{end}} or {{else}}: (whether only spaces and comments, which one)."""
        empty = True
        while self.peek_non_space()[0] != EOF:
            kind, node = self.text_or_action()
            if kind in ("end", "else"):
                return empty, kind
            if not (kind == "text" and not node.strip(_SPACE)) and kind != "comment":
                empty = False
        raise self.error("unexpected EOF")

    def text_or_action(self) -> tuple[str, str]:
        t = self.next_non_space()
        if t[0] == TEXT:
            return "text", t[1]
        if t[0] == LEFT:
            return self.action()
        raise self.unexpected(t, "input")

    def action(self) -> tuple[str, str]:
        t = self.next_non_space()
        if t[0] == KEYWORD:
            w = t[1]
            if w == "block":
                return self.block()
            if w in ("break", "continue"):
                u = self.next_non_space()
                if u[0] != RIGHT:
                    raise self.unexpected(u, f"{{{{{w}}}}}")
                if self.range_depth == 0:
                    raise self.error(f"{{{{{w}}}}} outside {{{{range}}}}", t)
                return w, ""
            if w == "else":
                nxt = self.peek_non_space()
                if nxt[0] == KEYWORD and nxt[1] == "if":
                    return "else", "if"
                self.expect(RIGHT, "else")
                return "else", ""
            if w == "end":
                self.expect(RIGHT, "end")
                return "end", ""
            if w in ("if", "range", "with"):
                self.control(w)
                return w, ""
            if w == "template":
                u = self.next_non_space()
                self.template_name(u, "template clause")
                if self.next_non_space()[0] != RIGHT:
                    self.i -= 1
                    self.pipeline("template clause", RIGHT)
                return "template", ""
        self.i -= 1
        self.pipeline("command", RIGHT)  # its variables persist until {{end}}
        return "action", ""

    def template_name(self, t: tuple[int, str, int], context: str) -> str:
        if t[0] not in (STRING, RAW):
            raise self.unexpected(t, context)
        if not _unquote(t[1]):
            raise self.error("invalid syntax", t)
        return _literal(t[1])

    def block(self) -> tuple[str, str]:
        t = self.next_non_space()
        name = self.template_name(t, "block clause")
        self.pipeline("block clause", RIGHT)
        outer, outer_depth = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        empty, end = self.item_list()
        if end != "end":
            raise self.error(f"unexpected {{{{{end}}}}} in block clause")
        self._add(name, empty)
        self.vars, self.range_depth = outer, outer_depth
        return "template", ""

    def control(self, context: str) -> None:
        mark = len(self.vars)
        self.pipeline(context, RIGHT)
        if context == "range":
            self.range_depth += 1
        _, end = self.item_list()
        if context == "range":
            self.range_depth -= 1
        if end == "else":
            if context == "if" and self.peek()[0] == KEYWORD and self.peek()[1] == "if":
                self.next()
                self.control("if")  # {{else if}}: one {{end}} for both
            else:
                _, end2 = self.item_list()
                if end2 != "end":
                    raise self.error(f"expected end; found {{{{{end2}}}}}")
        del self.vars[mark:]

    def pipeline(self, context: str, end: int) -> None:
        decls = 0
        while True:  # declarations
            v = self.peek_non_space()
            if v[0] != VARIABLE:
                break
            save = self.i
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt[0] in (ASSIGN, DECLARE):
                self.next_non_space()
                self.vars.append(v[1])
                decls += 1
                break
            if nxt[0] == CHAR and nxt[1] == ",":
                self.next_non_space()
                self.vars.append(v[1])
                decls += 1
                if context == "range" and decls < 2:
                    if self.peek_non_space()[0] in (VARIABLE, RIGHT, RPAREN):
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            self.i = save
            break
        cmds = 0
        while True:
            t = self.next_non_space()
            if t[0] == end:
                if cmds == 0:
                    raise self.error(f"missing value for {context}", t)
                return
            if t[0] in (BOOL, CHARCONST, COMPLEX, DOT, FIELD, IDENT, NUMBER, KEYWORD, RAW, STRING, VARIABLE, LPAREN):
                if t[0] == KEYWORD and t[1] != "nil":
                    raise self.unexpected(t, context)
                self.i -= 1
                first = self.command()
                if cmds > 0 and first in (BOOL, DOT, NUMBER, STRING, "nil"):
                    raise self.error(f"non executable command in pipeline stage {cmds + 1}")
                cmds += 1
            else:
                raise self.unexpected(t, context)

    def command(self) -> object:
        """A command's operands; the kind of its first (for checkPipeline)."""
        first: object = None
        n = 0
        while True:
            self.peek_non_space()
            kind = self.operand()
            if kind is not None:
                if n == 0:
                    first = kind
                n += 1
            t = self.next()
            if t[0] == SPACE:
                continue
            if t[0] in (RIGHT, RPAREN):
                self.i -= 1
            elif t[0] != PIPE:
                raise self.unexpected(t, "operand")
            break
        if n == 0:
            raise self.error("empty command")
        return first

    def operand(self) -> object:
        kind = self.term()
        if kind is None:
            return None
        if self.peek()[0] == FIELD:
            while self.peek()[0] == FIELD:
                self.next()
            if kind in (BOOL, STRING, NUMBER, "nil", DOT):
                raise self.error("unexpected . after term")
            kind = "chain"
        return kind

    def term(self) -> object:
        t = self.next_non_space()
        k = t[0]
        if k == IDENT:
            if t[1] not in self.funcs:
                raise self.error(f"function {t[1]!r} not defined", t)
            return IDENT
        if k == DOT:
            return DOT
        if k == KEYWORD and t[1] == "nil":
            return "nil"
        if k == VARIABLE:
            if t[1].split(".")[0] not in self.vars:
                raise self.error(f"undefined variable {t[1].split('.')[0]!r}", t)
            return VARIABLE
        if k == FIELD:
            return FIELD
        if k == BOOL:
            return BOOL
        if k == CHARCONST:
            if not _char_ok(t[1]):
                raise self.error(f"malformed character constant: {t[1]}", t)
            return NUMBER
        if k in (NUMBER, COMPLEX):
            if k == COMPLEX:
                if not _complex_ok(t[1]):
                    raise self.error(f"illegal number syntax: {t[1]!r}", t)
            else:
                e = _number_ok(t[1])
                if e:
                    raise self.error(e, t)
            return NUMBER
        if k == LPAREN:
            self.pipeline("parenthesized pipeline", RPAREN)
            return "pipe"
        if k in (STRING, RAW):
            if not _unquote(t[1]):
                raise self.error("invalid syntax", t)
            return STRING
        self.i -= 1
        return None


def _literal(text: str) -> str:
    if text[0] == "`":
        return text[1:-1]
    try:
        import ast

        return str(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return text[1:-1]


def _show(tok: tuple[int, str, int]) -> str:
    k, v, _ = tok
    if k == EOF:
        return "EOF"
    if k == RIGHT:
        return '"}}"'
    if k == KEYWORD:
        return f"<{v}>"
    if k == SPACE:
        return "space"
    return repr(v) if k != TEXT else f"text {v[:20]!r}"


_MEMO: dict[str, str | None] = {}
_QUOTES = re.compile(r"[\"'`]|/\*")


def _shape(text: str) -> str:
    """What the answer for `text` depends on: its actions and the lines of the text between them (an error names
    its line). Rules generated per service differ in that text ("{{ $labels.instance }} of checkout is down"): one
    parse serves them all. An action with a quote or a comment, where `}}` may not end it, keeps the whole text."""
    parts = text.split("{{")
    out = [str(parts[0].count("\n"))]
    for part in parts[1:]:
        end = part.find("}}")
        if end < 0 or _QUOTES.search(part, 0, end):
            return text
        out.append(part[: end + 2])
        out.append(str(part.count("\n", end)))
    return "\x00".join(out)


def check(
    text: str, name: str = "", functions: frozenset[str] = FUNCTIONS, variables: tuple[str, ...] = PROMETHEUS_VARS
) -> str | None:
    """None when Go's text/template parses `text` as rulefmt has it parsed (the template named `name`, with
    Prometheus's functions and variables), else the error: `LINE: message`, LINE within the text."""
    if "{{" not in text:
        return None
    # the answer is the text's alone unless it defines a template (which must not be named as the rule's own)
    key = (
        _shape(text)
        if functions is FUNCTIONS and variables is PROMETHEUS_VARS and "define" not in text and "block" not in text
        else None
    )
    if key is not None and key in _MEMO:
        return _MEMO[key]
    try:
        p = _Parser(_lex(text), functions)
        p.parse(variables, name)
        got = None
    except TemplateError as e:
        got = str(e)
    except IndexError:  # past the end of the tokens: the text ended inside something
        got = "unexpected EOF"
    if key is not None and len(_MEMO) < 100_000:
        _MEMO[key] = got
    return got
