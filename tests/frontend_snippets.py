"""Snippets of Python for the front end's tests (test_frontend.py): every construct, layout
and literal that has a rule of its own in the LibCST conversion, for what flushguard's files
and the standard library sample may not hold. Each is compared only where the running Python
parses it; the newer ones (named by the version that introduced them) also show what the
conversion gives an older Python.
"""

from __future__ import annotations

import textwrap
from typing import Dict

#: The snippets by name (dedented by :func:`snippet`).
SNIPPETS: Dict[str, str] = {
    "statements": '''\
        import a.b.c as d, e
        from . import (a, b as c,)
        from ...x.y import *
        from .... import z
        global g
        x = y = 1; del (a), [b], c.d, e[0]; assert x, "m"
        x: int
        x.y: int = 1
        x[0] += 1; x @= y; x //= 2; x **= 3; x >>= 1; x <<= 1; x ^= 1; x |= 1; x &= 1; x %= 2
        if a: pass
        elif b: pass
        elif c:
            pass
        else:
            pass;
        while x:
            break
        else:
            continue
        for (a, b) in c: pass
        for a, b, in c: pass
        try:
            pass
        except (A, B) as e:
            raise E from e
        except C:
            raise
        else:
            pass
        finally:
            pass
        with (a, b):
            pass
        with (a, b) as c, d:
            pass
        with (a as b, c as d,):
            pass
        class A(B, *c, d=1, **e): x = 1; y = 2;
        @a.b(c)
        @d
        class C: pass
        def f(a, b=2, /, c=3, *d, e, f=4, **g) -> x:
            nonlocal q
            x = yield
            yield from h
            return (yield)
        async def f(*, a: int = 1):
            async with a as (b, c):
                pass
            async for x in y:
                await z
            return [x async for x in y if await x]
        ''',
    "expressions": '''\
        x = lambda *, a=1, **k: 0
        x = lambda a, b=2, /, c=3, *d, e, f=4, **g: (a, b)
        print(*a, **b, c=1); print(*a, c=1, *b, **d)
        x[1:2:3, ::, :, a:b] = x[()]; x[a, b,]; x[(a, b)]; x[:]
        (a) = (b) = c; [a, *b] = (*c, d) = e
        x = a if b else c
        x = not a and b or c and d or e
        x = (a or b) or c and (d and e)
        x = a < b <= c != d is not e not in f in g is h > i >= j == k
        x = -a + +b - ~c ** d // e % f @ g << h >> i & j | k ^ l / m * n
        x = {1: 2, **d, 3: 4}; x = {1, 2, *s}; x = []; x = {}; x = ()
        x = {a: b for a, b in c if a if b for d in e}
        x = [a for b in c]; x = {a for b in c}; x = (a for b in c)
        x = f(a for b in c); x = f((a for b in c)); x = f ( a for b in c )
        x = ((a)); x = (((a, b))); x = (a,); x = a,; x = ...; x = (y := 1)
        x = [y := 1, z := 2]
        x = a.b.c(d)[e].f
        x = (a
             .b)
        ''',
    "literals": r'''
        x = "a" "b" u"c" U"d" 'e' """f"""
        x = u"a" "b"
        x = 'a' \
            'b'
        x = ("a"
             "b")
        x = "\N{LATIN SMALL LETTER E WITH ACUTE}\x41\u00e9\U0001F600\101\0\7\8\q\'\"\\\a\b\
        continued\f\n\r\t\v"
        x = b'\x41\101\777\n\q\u1234\N{X}' + rb'\d' + Rb"x" + BR'y' + br"""z"""
        x = r'\n\'' + R"\d"
        x = 1_000 + 0x_FF + 0o17 + 0b1 + 0O7 + 0XaB + 0B10 + 00 + 0_0
        x = 1.5e-3 + 1_0.5j + .5 + 5. + 0e0 + 1E5J + 1_000.000_1 + 10j + 1e1_0
        x = 123456789012345678901234567890 + 0x123456789abcdef0123456789
        ''',
    "f-strings": r'''
        x = f"a{{b}}\n{c!r:>{w}} {d = }" "z"
        x = f"{e:}" f"" u"k" "l"
        x = f"{x}a" u"b" "c" f"{y:{z}}"
        x = ('abc' f'{x}' 'gh' f'i{x:4}', 'a' f'{x:4}', "abc" f"{y:4{z}}" "q")
        x = "abc" f"{y,}" f"{y, z!r}" f"{ y , z = }" f"""{
          a,
         b
         }"""
        x = f"{a=}{b = !s}{c=:>5}{ d= :3}{e = :{f}}{g=!r:^20}"
        x = f"""
        {a}
            {b:{c}}
        """
        x = f'{"a" if b else "c"}' f"{a['b']}" f"{ {'a': 1}['a'] }" f"{x:%H:%M}" f"{x!r:}"
        x = f'{(lambda: 1)}' f"{(a)}" f"{(a, b)}" f'{{ {a} }}'
        x = f"\N{LATIN SMALL LETTER E WITH ACUTE}{a}\x41\n" rf"\N{a}" rf"\d{e}" F"{{}}" fR'{x}\n'
        x = ("é" f"{é}"
             f"{b!r:{c}}")
        x = f"{a}" f"""
        {b}"""
        x = f"""{a
        }{b:{c}
        }"""
        ''',
    # Non-ASCII text before nodes (columns count UTF-8 bytes), CRLF and lone CR line breaks,
    # a form feed before a statement, a ``;`` ending a block.
    "layout": "é = 1; ñ = 'ü'\r\nif x:\r\n    y = \'\'\'a\r\nb\'\'\'  # c\r\nx = 2\ry = 3\n"
              "\x0cz = é\nif z:\n\tpass;\n",
    "unicode": '''\
        é = "ñ" + ñandú.café; ﬁ = ﬁ.ﬁ
        def 𝔣(𝔞, *ｂ, **ｃ): return f"{𝔞}é{ｂ!r}"
        import ℌ.ℑ as ℜ
        class Ünïcödé(Ä, metaclass=Ö): Ω: int = 1
        ''',
    "match": '''\
        match x:
            case 1 | -2 | 3.5 | -1+2j | "s" | b"b" | None | True | a.b:
                pass
            case [a, *rest] | (b, *_) | (c,) | [] | () | [*_, d]:
                pass
            case {"k": v, **rest} | {}:
                pass
            case Point(x=0, y=(1)) | Point(1, 2, z=3) | P():
                pass
            case (a as b) | (c):
                pass
            case a, b if a > b:
                pass
            case *a, b:
                pass
            case _:
                pass
        match a, b:
            case [(f as g)]: pass
        ''',
    # Python 3.11: except*, a starred index, starred annotations.
    "3.11": '''\
        try:
            pass
        except* A:
            pass
        except* (B, C) as e:
            pass;
        x[*a]; x[*a, b]; x[a, *b] = c
        def f(*args: *Ts): pass
        ''',
    # Python 3.12: type parameters, type aliases, the new f-strings.
    "3.12": '''\
        def first[T](items: list[T]) -> T:
            return items[0]
        class Box[T: (int, str), *Ts, **P](Base, metaclass=M):
            def get[U: int](self, default: U) -> T | U: return self.value or default
        type Stamp = datetime
        type Json[T] = dict[str, T] | list[T]
        x = f"{"-" * 3}" f"{x!r:>{w}}" f"{'a' 'b'}" f"{f"{f"{user.email}"}"}"
        y = f"{"-".join([
            str(user.id),  # the key
            str(user.created_at),
        ])}"
        w = f"a\\{b}c{d=}e{ f :>10}" rf"\\{x}\\n{y!a}"
        ''',
    # Python 3.13: type parameter defaults.
    "3.13": '''\
        type Pair[K, V = int] = tuple[K, V]
        def first[T = int](items: list[T]) -> T: pass
        class Page[M = User, *Ts = *tuple[int, ...], **P = [int, str]]: pass
        class Users[S: AsyncSession = AsyncSession]: pass
        ''',
    # Python 3.14: t-strings, except without parentheses.
    "3.14": '''\
        GREETING = t"hello {"world"}"
        PATH = rt"\\d{x!r:>{w}}"
        DEBUG = t"{ x = }"
        try:
            pass
        except A, B:
            pass
        ''',
}


def snippet(name: str) -> str:
    return textwrap.dedent(SNIPPETS[name])
