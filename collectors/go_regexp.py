"""Go's regexp syntax (RE2, as Alertmanager compiles `match_re` and `=~` matchers), checked and translated to
Python's `re`.

`parse_go_regexp` follows Go 1.19's regexp/syntax parser (Perl flags: what `regexp.Compile` accepts) step by step:
what Go refuses is refused with Go's message (`error parsing regexp: invalid escape sequence: `\\Z``), and what it
accepts is rewritten construct by construct into a Python pattern that matches the same strings: `\\Q...\\E`
quoting, `\\z`, flag groups scoped as Go scopes them (`a(?i)b|c`, `(?U)` ungreedy, `(?m)`, `(?s)`), ASCII `\\d \\w
\\s \\b` and POSIX classes, `\\x{...}` and octal escapes, `{` that is no repeat, Unicode categories (`\\pL`,
`\\p{^Lu}`). Only Unicode scripts (`\\p{Greek}`) have no data in Python's standard library: they are refused with
a message saying so (Go accepts them).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

MAX_RUNE = 0x10FFFF
_MAX_HEIGHT = 1000  # Go's maxHeight: "expression nests too deeply"

# Go's unicode.Categories (no Cn, no LC); a one-letter category is the union of its two-letter ones
_CATEGORIES = frozenset(
    "C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs".split()
)
# Go's unicode.Scripts (Unicode 13.0, Go 1.19): valid in Go, no data here
_SCRIPTS = frozenset(
    """Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali Bhaiksuki
    Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian Chakma Cham Cherokee
    Chorasmian Common Coptic Cuneiform Cypriot Cyrillic Deseret Devanagari Dives_Akuru Dogra Duployan
    Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi
    Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic Inherited
    Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kayah_Li Kharoshthi
    Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian Mahajani
    Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui
    Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nandinagari New_Tai_Lue
    Newa Nko Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic Old_North_Arabian Old_Permic
    Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Oriya Osage Osmanya Pahawh_Hmong Palmyrene Pau_Cin_Hau
    Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan Saurashtra Sharada Shavian Siddham SignWriting
    Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet
    Takri Tamil Tangut Telugu Thaana Thai Tibetan Tifinagh Tirhuta Ugaritic Vai Wancho Warang_Citi Yezidi Yi
    Zanabazar_Square""".split()
)

_Ranges = list[tuple[int, int]]


def _r(*spec: str) -> _Ranges:
    return [(ord(s[0]), ord(s[-1])) for s in spec]


_PERL_CLASSES: dict[str, _Ranges] = {
    "d": _r("09"),
    "s": _r("\t\n", "\f\r", " "),
    "w": _r("09", "AZ", "__", "az"),
}
_POSIX_CLASSES: dict[str, _Ranges] = {
    "alnum": _r("09", "AZ", "az"),
    "alpha": _r("AZ", "az"),
    "ascii": [(0, 0x7F)],
    "blank": _r("\t", " "),
    "cntrl": [(0, 0x1F), (0x7F, 0x7F)],
    "digit": _r("09"),
    "graph": _r("!~"),
    "lower": _r("az"),
    "print": _r(" ~"),
    "punct": _r("!/", ":@", "[`", "{~"),
    "space": _r("\t\r", " "),
    "upper": _r("AZ"),
    "word": _r("09", "AZ", "az", "__"),
    "xdigit": _r("09", "AF", "af"),
}


class GoRegexpError(ValueError):
    """Go's regexp/syntax error: `error parsing regexp: <code>: `<expr>``."""

    def __init__(self, code: str, expr: str):
        super().__init__(f"error parsing regexp: {code}: `{expr}`")
        self.code = code
        self.expr = expr


class UnsupportedRegexp(ValueError):
    """A regexp Go accepts that cannot be evaluated here."""


def _merge(ranges: _Ranges) -> _Ranges:
    out: _Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _negate(ranges: _Ranges) -> _Ranges:
    out: _Ranges = []
    nxt = 0
    for lo, hi in _merge(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_RUNE:
        out.append((nxt, MAX_RUNE))
    return out


@lru_cache(maxsize=64)
def _category(name: str) -> tuple[tuple[int, int], ...]:
    """The code points of a Unicode general category (Python's Unicode data; Go 1.19 has 13.0)."""
    out: _Ranges = []
    start = -1
    for cp in range(MAX_RUNE + 2):
        cat = unicodedata.category(chr(cp)) if cp <= MAX_RUNE else ""
        inside = cat == name or (len(name) == 1 and cat.startswith(name) and cat != "Cn")
        if inside and start < 0:
            start = cp
        elif not inside and start >= 0:
            out.append((start, cp - 1))
            start = -1
    return tuple(out)


def _char(cp: int) -> str:
    """A code point written so that Python's `re` reads it as that literal character (in or out of a class)."""
    c = chr(cp)
    if c.isascii() and c.isalnum():
        return c
    return f"\\U{cp:08x}" if cp > 0xFFFF else f"\\u{cp:04x}" if cp > 0xFF else f"\\x{cp:02x}"


def _class_text(ranges: _Ranges, negated: bool) -> str:
    ranges = _merge(ranges)
    if not ranges:
        return "[\\s\\S]" if negated else "(?!)"
    body = "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges)
    return f"[{'^' if negated else ''}{body}]"


class _Node:
    """A node of the parsed tree, as far as Go's checks need one: its Python text, and for a repeat its counts."""

    __slots__ = ("py", "subs", "rep_max", "rep_min", "height", "pseudo")

    def __init__(self, py: str, subs: list[_Node] | None = None, pseudo: bool = False):
        self.py = py
        self.subs = subs or []
        self.rep_max: int | None = None  # set on {n,m} repeats only (Go's OpRepeat)
        self.rep_min = 0
        self.height = 1 + max((s.height for s in self.subs), default=0)
        self.pseudo = pseudo


def _repeat_is_valid(node: _Node, n: int) -> bool:
    """Go's repeatIsValid: nested {n,m} repeats do not make more than `n` copies of the innermost thing."""
    if node.rep_max is not None:
        m = node.rep_max
        if m == 0:
            return True
        if m < 0:
            m = node.rep_min
        if m > n:
            return False
        if m > 0:
            n //= m
    return all(_repeat_is_valid(s, n) for s in node.subs)


_OPEN = object()  # stack marker: an open group
_BAR = object()  # stack marker: `|`


class _Parser:
    def __init__(self, whole: str):
        self.whole = whole
        self.i_fold = False  # (?i)
        self.one_line = True  # not (?m)
        self.dot_nl = False  # (?s)
        self.ungreedy = False  # (?U)
        # the stack of Go's parser: nodes, and markers for open groups (with the flags they restore) and bars
        self.stack: list = []

    # ----------------------------------------------------------------------------------------------- structure
    def push(self, node: _Node) -> None:
        self.stack.append(node)
        if node.height > _MAX_HEIGHT:
            raise GoRegexpError("expression nests too deeply", self.whole)

    def _concat(self) -> _Node:
        items: list[_Node] = []
        while self.stack and isinstance(self.stack[-1], _Node):
            items.append(self.stack.pop())
        items.reverse()
        if len(items) == 1:
            return items[0]
        return _Node("".join(x.py for x in items), items)

    def _alternate_top(self) -> _Node:
        """Close the alternatives of the innermost open group (or the whole expression)."""
        alts = [self._concat()]
        while self.stack and self.stack[-1] is _BAR:
            self.stack.pop()
            alts.append(self._concat())
        alts.reverse()
        if len(alts) == 1:
            return alts[0]
        return _Node("|".join(a.py for a in alts), alts)

    def bar(self) -> None:
        node = self._concat()
        self.stack.append(node)
        self.stack.append(_BAR)

    def open_group(self, capture: bool, flags: tuple[bool, bool, bool, bool]) -> None:
        self.stack.append((_OPEN, capture, flags))

    def close_group(self) -> None:
        inner = self._alternate_top()
        if not self.stack or not isinstance(self.stack[-1], tuple):
            raise GoRegexpError("unexpected )", self.whole)
        _, capture, flags = self.stack.pop()
        self.i_fold, self.one_line, self.dot_nl, self.ungreedy = flags
        node = _Node(f"(?:{inner.py})", [inner])
        if not capture:  # Go adds no node for (?:...): its height is the content's
            node.height = inner.height
        self.push(node)

    @property
    def flags(self) -> tuple[bool, bool, bool, bool]:
        return (self.i_fold, self.one_line, self.dot_nl, self.ungreedy)

    # ------------------------------------------------------------------------------------------------- atoms
    def literal(self, cp: int) -> None:
        text = _char(cp)
        if self.i_fold and chr(cp).lower() != chr(cp).upper():
            text = f"(?i:{text})"
        self.push(_Node(text))

    def char_class(self, ranges: _Ranges, negated: bool = False) -> None:
        text = _class_text(ranges, negated)
        self.push(_Node(f"(?i:{text})" if self.i_fold else text))

    def op(self, text: str) -> None:
        self.push(_Node(text))

    def repeat(self, lo: int, hi: int, before: str, after: str, last_repeat: str, braces: bool) -> str:
        greedy = not self.ungreedy
        if after.startswith("?"):
            after = after[1:]
            greedy = not greedy
        if last_repeat:
            raise GoRegexpError("invalid nested repetition operator", last_repeat[: len(last_repeat) - len(after)])
        if not self.stack or not isinstance(self.stack[-1], _Node):
            raise GoRegexpError("missing argument to repetition operator", before[: len(before) - len(after)])
        sub = self.stack.pop()
        if not braces:
            q = {(0, -1): "*", (1, -1): "+", (0, 1): "?"}[(lo, hi)]
        else:
            q = f"{{{lo}}}" if lo == hi else f"{{{lo},}}" if hi < 0 else f"{{{lo},{hi}}}"
        node = _Node(f"(?:{sub.py}){q}{'' if greedy else '?'}", [sub])
        if braces:
            node.rep_min, node.rep_max = lo, hi
            if (lo >= 2 or hi >= 2) and not _repeat_is_valid(node, 1000):
                raise GoRegexpError("invalid repeat count", before[: len(before) - len(after)])
        self.push(node)
        return after

    # ----------------------------------------------------------------------------------------------- parsing
    def parse(self) -> str:
        t = self.whole
        last_repeat = ""
        while t:
            repeat = ""
            c = t[0]
            if c == "(":
                if t.startswith("(?"):
                    t = self.perl_flags(t)
                else:
                    self.open_group(True, self.flags)
                    t = t[1:]
            elif c == "|":
                self.bar()
                t = t[1:]
            elif c == ")":
                self.close_group()
                t = t[1:]
            elif c == "^":
                self.op("\\A" if self.one_line else "(?m:^)")
                t = t[1:]
            elif c == "$":
                self.op("\\Z" if self.one_line else "(?m:$)")
                t = t[1:]
            elif c == ".":
                self.op("(?s:.)" if self.dot_nl else "[^\\n]")
                t = t[1:]
            elif c == "[":
                t = self.parse_class(t)
            elif c in "*+?":
                lo, hi = {"*": (0, -1), "+": (1, -1), "?": (0, 1)}[c]
                before = t
                t = self.repeat(lo, hi, before, t[1:], last_repeat, braces=False)
                repeat = before
            elif c == "{":
                parsed = _parse_repeat(t)
                if parsed is None:
                    self.literal(ord("{"))
                    t = t[1:]
                else:
                    lo, hi, after = parsed
                    if lo < 0 or lo > 1000 or hi > 1000 or (hi >= 0 and lo > hi):
                        raise GoRegexpError("invalid repeat count", t[: len(t) - len(after)])
                    before = t
                    t = self.repeat(lo, hi, before, after, last_repeat, braces=True)
                    repeat = before
            elif c == "\\":
                t = self.backslash(t)
            else:
                self.literal(ord(c))
                t = t[1:]
            last_repeat = repeat
        node = self._alternate_top()
        if self.stack:
            raise GoRegexpError("missing closing )", self.whole)
        return node.py

    def perl_flags(self, s: str) -> str:
        t = s
        if len(t) > 4 and t[2] == "P" and t[3] == "<":
            end = t.find(">")
            if end < 0:
                raise GoRegexpError("invalid named capture", s)
            name = t[4:end]
            if not name or not all(ch == "_" or (ch.isascii() and ch.isalnum()) for ch in name):
                raise GoRegexpError("invalid named capture", t[: end + 1])
            self.open_group(True, self.flags)
            return t[end + 1 :]
        i_fold, one_line, dot_nl, ungreedy = self.flags
        t = t[2:]
        negate = False
        saw = False
        while t:
            c, t = t[0], t[1:]
            if c in "imsU":
                value = not negate
                if c == "i":
                    i_fold = value
                elif c == "m":
                    one_line = not value
                elif c == "s":
                    dot_nl = value
                else:
                    ungreedy = value
                saw = True
            elif c == "-":
                if negate:
                    break
                negate = True
                saw = False
            elif c in ":)":
                if negate and not saw:
                    break
                if c == ":":
                    self.open_group(False, self.flags)
                self.i_fold, self.one_line, self.dot_nl, self.ungreedy = i_fold, one_line, dot_nl, ungreedy
                return t
            else:
                break
        raise GoRegexpError("invalid or unsupported Perl syntax", s[: len(s) - len(t)])

    def backslash(self, t: str) -> str:
        if len(t) >= 2:
            d = t[1]
            if d == "A":
                self.op("\\A")
                return t[2:]
            if d == "b":
                self.op("(?a:\\b)")
                return t[2:]
            if d == "B":
                self.op("(?a:\\B)")
                return t[2:]
            if d == "C":
                raise GoRegexpError("invalid escape sequence", t[:2])
            if d == "Q":
                lit, sep, rest = t[2:].partition("\\E")
                for ch in lit:
                    self.literal(ord(ch))
                return rest
            if d == "z":
                self.op("\\Z")
                return t[2:]
            if d in "pP":
                got = self.unicode_class(t)
                if got is not None:
                    ranges, rest = got
                    self.char_class(ranges)
                    return rest
            if d in "dswDSW":
                ranges = _PERL_CLASSES[d.lower()]
                self.char_class(_negate(ranges) if d.isupper() else ranges)
                return t[2:]
        cp, rest = _escape(t)
        self.literal(cp)
        return rest

    def unicode_class(self, t: str) -> tuple[_Ranges, str] | None:
        """`\\pL`, `\\p{Lu}`, `\\p{^Lu}`, `\\PL` at the start of `t`: its code points and the rest."""
        if len(t) < 2 or t[0] != "\\" or t[1] not in "pP":
            return None
        negated = t[1] == "P"
        rest = t[2:]
        if not rest:
            raise GoRegexpError("invalid character class range", t)
        if rest[0] != "{":
            name, rest = rest[0], rest[1:]
            seq = t[: len(t) - len(rest)]
        else:
            end = rest.find("}")
            if end < 0:
                raise GoRegexpError("invalid character class range", t)
            name, rest = rest[1:end], rest[end + 1 :]
            seq = t[: len(t) - len(rest)]
            if name.startswith("^"):
                negated = not negated
                name = name[1:]
        if name == "Any":
            ranges: _Ranges = [(0, MAX_RUNE)]
        elif name in _CATEGORIES:
            ranges = list(_category(name))
        elif name in _SCRIPTS:
            raise UnsupportedRegexp(
                f"the Unicode script class `{seq}` is valid in Go but cannot be evaluated here (no script data)"
            )
        else:
            raise GoRegexpError("invalid character class range", seq)
        return (_negate(ranges) if negated else ranges), rest

    def parse_class(self, s: str) -> str:
        t = s[1:]
        negated = False
        if t.startswith("^"):
            negated = True
            t = t[1:]
        ranges: _Ranges = []
        first = True
        while not t or t[0] != "]" or first:
            first = False
            if len(t) > 2 and t[0] == "[" and t[1] == ":":
                end = t.find(":]", 2)
                if end >= 0:
                    name = t[: end + 2]
                    inner = name[2:-2]
                    neg = inner.startswith("^")
                    group = _POSIX_CLASSES.get(inner[1:] if neg else inner)
                    if group is None:
                        raise GoRegexpError("invalid character class range", name)
                    ranges += _negate(group) if neg else group
                    t = t[end + 2 :]
                    continue
            got = self.unicode_class(t)
            if got is not None:
                more, t = got
                ranges += more
                continue
            if len(t) >= 2 and t[0] == "\\" and t[1] in "dswDSW":
                group = _PERL_CLASSES[t[1].lower()]
                ranges += _negate(group) if t[1].isupper() else group
                t = t[2:]
                continue
            rng = t
            lo, t = _class_char(t, s)
            hi = lo
            if len(t) >= 2 and t[0] == "-" and t[1] != "]":
                t = t[1:]
                hi, t = _class_char(t, s)
                if hi < lo:
                    raise GoRegexpError("invalid character class range", rng[: len(rng) - len(t)])
            ranges.append((lo, hi))
        self.char_class(ranges, negated)
        return t[1:]


def _class_char(t: str, whole_class: str) -> tuple[int, str]:
    if not t:
        raise GoRegexpError("missing closing ]", whole_class)
    if t[0] == "\\":
        return _escape(t)
    return ord(t[0]), t[1:]


def _escape(s: str) -> tuple[int, str]:
    """Go's parseEscape: the code point of the escape at the start of `s` and the rest."""
    t = s[1:]
    if not t:
        raise GoRegexpError("trailing backslash at end of expression", "")
    c, t = t[0], t[1:]
    if c.isascii() and not c.isalnum():
        return ord(c), t
    if c in "1234567" and (not t or not "0" <= t[0] <= "7"):
        pass  # a backreference: not supported
    elif c in "01234567":
        r = ord(c) - 48
        for _ in range(2):
            if not t or not "0" <= t[0] <= "7":
                break
            r = r * 8 + ord(t[0]) - 48
            t = t[1:]
        return r, t
    elif c == "x" and t:
        c, t = t[0], t[1:]
        if c == "{":
            nhex = 0
            r = 0
            while True:
                if not t:
                    break
                c, t = t[0], t[1:]
                if c == "}":
                    if nhex:
                        return r, t
                    break
                v = _unhex(c)
                if v < 0:
                    break
                r = r * 16 + v
                if r > MAX_RUNE:
                    break
                nhex += 1
        else:
            x = _unhex(c)
            y = -1
            if t:
                y = _unhex(t[0])
                t = t[1:]
            if x >= 0 and y >= 0:
                return x * 16 + y, t
    elif c in "afnrtv":
        return {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}[c], t
    raise GoRegexpError("invalid escape sequence", s[: len(s) - len(t)])


def _unhex(c: str) -> int:
    return int(c, 16) if c in "0123456789abcdefABCDEF" else -1


def _parse_int(s: str) -> tuple[int, str] | None:
    if not s or not "0" <= s[0] <= "9":
        return None
    if len(s) >= 2 and s[0] == "0" and "0" <= s[1] <= "9":
        return None  # no leading zeros
    j = 0
    while j < len(s) and "0" <= s[j] <= "9":
        j += 1
    digits = s[:j]
    n = 0
    for ch in digits:
        if n >= 100_000_000:
            n = -1
            break
        n = n * 10 + ord(ch) - 48
    return n, s[j:]


def _parse_repeat(s: str) -> tuple[int, int, str] | None:
    """Go's parseRepeat: `{n}`, `{n,}`, `{n,m}` at the start of `s` -> (min, max (-1: none), rest), else None."""
    got = _parse_int(s[1:])
    if got is None:
        return None
    lo, s = got
    if not s:
        return None
    if s[0] != ",":
        hi = lo
    else:
        s = s[1:]
        if not s:
            return None
        if s[0] == "}":
            hi = -1
        else:
            got = _parse_int(s)
            if got is None:
                return None
            hi, s = got
            if hi < 0:
                lo = -1
    if not s or s[0] != "}":
        return None
    return lo, hi, s[1:]


@lru_cache(maxsize=4096)
def go_regexp_to_python(pattern: str) -> str:
    """A Python pattern matching what Go's `regexp.MustCompile(pattern)` matches (searching, as Go does);
    GoRegexpError where Go refuses it, UnsupportedRegexp where it cannot be translated."""
    p = _Parser(pattern)
    return p.parse()


def anchored(value: str) -> str:
    """Alertmanager's anchoring of a matcher regex: `^(?:` + value + `)$` (by concatenation: `a)|(b` is valid)."""
    return "^(?:" + value + ")$"


def check_alertmanager_regex(value: str) -> str:
    """The Python pattern for Alertmanager's anchored `value` (test with `re.search`); ValueError with Go's
    message when Alertmanager refuses it, or a precise one when it cannot be evaluated here."""
    import re

    text = go_regexp_to_python(anchored(value))
    try:
        re.compile(text)
    except RecursionError:
        raise GoRegexpError("expression nests too deeply", anchored(value)) from None
    except re.error as e:  # a translation Python refuses: a bug here, said as such
        raise UnsupportedRegexp(f"the regular expression cannot be evaluated here: {e}") from None
    except OverflowError as e:
        raise UnsupportedRegexp(f"the regular expression cannot be evaluated here: {e}") from None
    return text
