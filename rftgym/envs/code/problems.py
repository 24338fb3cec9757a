"""The bundled problems: 40 small function-writing tasks written for rftgym.

Each problem names a function, says what it must do, and has a reference solution, visible
examples (shown to the model, checked by ``run_tests``) and hidden tests (the grade). Examples and
tests are ``(arguments, expected)`` pairs of Python literals. Every fourth problem is in the test
split, the rest in train.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One bundled problem. ``examples`` and ``tests`` are ``(arguments source, expected source)``."""

    name: str
    signature: str
    description: str
    solution: str
    examples: tuple[tuple[str, str], ...]
    tests: tuple[tuple[str, str], ...]


def _p(signature: str, description: str, solution: str, examples: list, tests: list) -> Problem:
    name = signature.split("(")[0].split()[-1]
    return Problem(name, signature, description, solution.strip("\n"), tuple(examples), tuple(tests))


PROBLEMS: tuple[Problem, ...] = (
    _p(
        "def reverse_words(s: str) -> str",
        "Return the words of s in reverse order, separated by single spaces.",
        "def reverse_words(s):\n    return ' '.join(reversed(s.split()))",
        [("'hello big world'", "'world big hello'"), ("'one'", "'one'")],
        [("''", "''"), ("'  a   b '", "'b a'"), ("'x y z w'", "'w z y x'"), ("'Py thon'", "'thon Py'")],
    ),
    _p(
        "def count_vowels(s: str) -> int",
        "Count the vowels (a, e, i, o, u, either case) in s.",
        "def count_vowels(s):\n    return sum(c in 'aeiouAEIOU' for c in s)",
        [("'Hello'", "2"), ("'xyz'", "0")],
        [("''", "0"), ("'AEIOU'", "5"), ("'Programming in Python'", "5"), ("'bcd fgh'", "0")],
    ),
    _p(
        "def is_palindrome(s: str) -> bool",
        "Whether s reads the same backwards, ignoring case and every character that is not a letter or digit.",
        "def is_palindrome(s):\n    t = [c.lower() for c in s if c.isalnum()]\n    return t == t[::-1]",
        [("'A man, a plan, a canal: Panama'", "True"), ("'abc'", "False")],
        [("''", "True"), ("'No lemon, no melon'", "True"), ("'ab'", "False"), ("'12321'", "True"), ("'1a2'", "False")],
    ),
    _p(
        "def fizzbuzz(n: int) -> list",
        "The FizzBuzz list for 1..n: 'Fizz' for multiples of 3, 'Buzz' for "
        "multiples of 5, 'FizzBuzz' for both, otherwise the number as a string.",
        "def fizzbuzz(n):\n    out = []\n    for i in range(1, n + 1):\n        s = ('Fizz' if i % 3 == 0 else '') + ('Buzz' if i % 5 == 0 else '')\n        out.append(s or str(i))\n    return out",
        [("5", "['1', '2', 'Fizz', '4', 'Buzz']"), ("1", "['1']")],
        [
            ("0", "[]"),
            ("15", "['1','2','Fizz','4','Buzz','Fizz','7','8','Fizz','Buzz','11','Fizz','13','14','FizzBuzz']"),
            ("3", "['1', '2', 'Fizz']"),
        ],
    ),
    _p(
        "def second_largest(nums: list) -> int",
        "The second largest distinct value of nums, or None if there is none.",
        "def second_largest(nums):\n    values = sorted(set(nums))\n    return values[-2] if len(values) > 1 else None",
        [("[3, 1, 4, 1, 5]", "4"), ("[2, 2]", "None")],
        [("[]", "None"), ("[10, 9]", "9"), ("[-1, -5, -3]", "-3"), ("[7, 7, 6, 7]", "6")],
    ),
    _p(
        "def run_length_encode(s: str) -> str",
        "Run-length encode s: each run of a character becomes the count "
        "followed by the character, e.g. 'aaab' -> '3a1b'.",
        "def run_length_encode(s):\n    out, i = [], 0\n    while i < len(s):\n        j = i\n        while j < len(s) and s[j] == s[i]:\n            j += 1\n        out.append(f'{j - i}{s[i]}')\n        i = j\n    return ''.join(out)",
        [("'aaab'", "'3a1b'"), ("'abc'", "'1a1b1c'")],
        [("''", "''"), ("'zzzzzzzzzzzz'", "'12z'"), ("'aabbaa'", "'2a2b2a'"), ("' '", "'1 '")],
    ),
    _p(
        "def run_length_decode(s: str) -> str",
        "Invert run-length encoding: '3a1b' -> 'aaab'. Counts may have several digits.",
        "import re\n\ndef run_length_decode(s):\n    return ''.join(c * int(n) for n, c in re.findall(r'(\\d+)(\\D)', s))",
        [("'3a1b'", "'aaab'"), ("'12z'", "'zzzzzzzzzzzz'")],
        [("''", "''"), ("'1a1b1c'", "'abc'"), ("'2a2b2a'", "'aabbaa'"), ("'10x'", "'xxxxxxxxxx'")],
    ),
    _p(
        "def flatten(items: list) -> list",
        "Flatten arbitrarily nested lists into one list, keeping the order.",
        "def flatten(items):\n    out = []\n    for x in items:\n        if isinstance(x, list):\n            out.extend(flatten(x))\n        else:\n            out.append(x)\n    return out",
        [("[1, [2, [3, 4]], 5]", "[1, 2, 3, 4, 5]"), ("[]", "[]")],
        [("[[[]]]", "[]"), ("[[1], [2], [[3]]]", "[1, 2, 3]"), ("['a', ['b']]", "['a', 'b']")],
    ),
    _p(
        "def gcd(a: int, b: int) -> int",
        "The greatest common divisor of two non-negative integers (gcd(0, 0) is 0).",
        "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a",
        [("12, 18", "6"), ("7, 5", "1")],
        [("0, 0", "0"), ("0, 9", "9"), ("270, 192", "6"), ("1000000007, 1", "1")],
    ),
    _p(
        "def primes_up_to(n: int) -> list",
        "All primes <= n in increasing order.",
        "def primes_up_to(n):\n    if n < 2:\n        return []\n    sieve = [True] * (n + 1)\n    sieve[0] = sieve[1] = False\n    for i in range(2, int(n ** 0.5) + 1):\n        if sieve[i]:\n            sieve[i * i::i] = [False] * len(sieve[i * i::i])\n    return [i for i, p in enumerate(sieve) if p]",
        [("10", "[2, 3, 5, 7]"), ("2", "[2]")],
        [("1", "[]"), ("0", "[]"), ("30", "[2, 3, 5, 7, 11, 13, 17, 19, 23, 29]"), ("-5", "[]")],
    ),
    _p(
        "def word_frequencies(text: str) -> dict",
        "A dict from each lower-cased word of text (runs of letters) to how often it occurs.",
        "import re\n\ndef word_frequencies(text):\n    counts = {}\n    for w in re.findall(r'[a-z]+', text.lower()):\n        counts[w] = counts.get(w, 0) + 1\n    return counts",
        [("'The cat and the hat'", "{'the': 2, 'cat': 1, 'and': 1, 'hat': 1}"), ("''", "{}")],
        [("'a A a!'", "{'a': 3}"), ("'one-two two'", "{'one': 1, 'two': 2}"), ("'42 is 4 2'", "{'is': 1}")],
    ),
    _p(
        "def anagram_groups(words: list) -> list",
        "Group words that are anagrams of each other. Each group is sorted; groups are ordered by their first word.",
        "def anagram_groups(words):\n    groups = {}\n    for w in words:\n        groups.setdefault(''.join(sorted(w)), []).append(w)\n    return sorted(sorted(g) for g in groups.values())",
        [
            ("['eat', 'tea', 'tan', 'ate', 'nat', 'bat']", "[['ate', 'eat', 'tea'], ['bat'], ['nat', 'tan']]"),
            ("[]", "[]"),
        ],
        [("['a']", "[['a']]"), ("['ab', 'ba', 'ab']", "[['ab', 'ab', 'ba']]"), ("['x', 'y']", "[['x'], ['y']]")],
    ),
    _p(
        "def matrix_transpose(m: list) -> list",
        "The transpose of a rectangular matrix given as a list of rows.",
        "def matrix_transpose(m):\n    return [list(r) for r in zip(*m)]",
        [("[[1, 2, 3], [4, 5, 6]]", "[[1, 4], [2, 5], [3, 6]]"), ("[[1]]", "[[1]]")],
        [("[]", "[]"), ("[[1, 2]]", "[[1], [2]]"), ("[[1], [2], [3]]", "[[1, 2, 3]]")],
    ),
    _p(
        "def binary_search(items: list, target: int) -> int",
        "The index of target in the sorted list items, or -1 if it is absent.",
        "def binary_search(items, target):\n    lo, hi = 0, len(items) - 1\n    while lo <= hi:\n        mid = (lo + hi) // 2\n        if items[mid] == target:\n            return mid\n        if items[mid] < target:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n    return -1",
        [("[1, 3, 5, 7], 5", "2"), ("[1, 3], 2", "-1")],
        [("[], 1", "-1"), ("[4], 4", "0"), ("list(range(0, 1000, 2)), 998", "499"), ("[1, 2, 3], 0", "-1")],
    ),
    _p(
        "def merge_intervals(intervals: list) -> list",
        "Merge overlapping or touching [start, end] intervals; return them sorted by start.",
        "def merge_intervals(intervals):\n    out = []\n    for s, e in sorted(intervals):\n        if out and s <= out[-1][1]:\n            out[-1][1] = max(out[-1][1], e)\n        else:\n            out.append([s, e])\n    return out",
        [("[[1, 3], [2, 6], [8, 10]]", "[[1, 6], [8, 10]]"), ("[[1, 4], [4, 5]]", "[[1, 5]]")],
        [("[]", "[]"), ("[[5, 6], [1, 2]]", "[[1, 2], [5, 6]]"), ("[[1, 10], [2, 3], [4, 5]]", "[[1, 10]]")],
    ),
    _p(
        "def roman_to_int(s: str) -> int",
        "The value of a Roman numeral (I V X L C D M, with subtractive pairs).",
        "def roman_to_int(s):\n    v = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}\n    total = 0\n    for i, c in enumerate(s):\n        if i + 1 < len(s) and v[c] < v[s[i + 1]]:\n            total -= v[c]\n        else:\n            total += v[c]\n    return total",
        [("'XIV'", "14"), ("'MCMXCIV'", "1994")],
        [("'I'", "1"), ("'IX'", "9"), ("'LVIII'", "58"), ("'MMXXIV'", "2024")],
    ),
    _p(
        "def int_to_roman(n: int) -> str",
        "The Roman numeral of 1 <= n <= 3999.",
        "def int_to_roman(n):\n    table = [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), (90, 'XC'),\n             (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')]\n    out = ''\n    for value, sym in table:\n        while n >= value:\n            out += sym\n            n -= value\n    return out",
        [("14", "'XIV'"), ("1994", "'MCMXCIV'")],
        [("1", "'I'"), ("3999", "'MMMCMXCIX'"), ("40", "'XL'"), ("444", "'CDXLIV'")],
    ),
    _p(
        "def balanced_brackets(s: str) -> bool",
        "Whether the brackets ()[]{} in s are balanced; other characters are ignored.",
        "def balanced_brackets(s):\n    pairs, stack = {')': '(', ']': '[', '}': '{'}, []\n    for c in s:\n        if c in '([{':\n            stack.append(c)\n        elif c in pairs:\n            if not stack or stack.pop() != pairs[c]:\n                return False\n    return not stack",
        [("'([]{})'", "True"), ("'(]'", "False")],
        [("''", "True"), ("'((('", "False"), ("'a(b)c[d]'", "True"), ("'}{'", "False"), ("'([)]'", "False")],
    ),
    _p(
        "def caesar(s: str, k: int) -> str",
        "Shift each ASCII letter of s by k places in the alphabet (wrapping, keeping case); other characters stay.",
        "def caesar(s, k):\n    out = []\n    for c in s:\n        if 'a' <= c <= 'z':\n            out.append(chr((ord(c) - 97 + k) % 26 + 97))\n        elif 'A' <= c <= 'Z':\n            out.append(chr((ord(c) - 65 + k) % 26 + 65))\n        else:\n            out.append(c)\n    return ''.join(out)",
        [("'abc', 1", "'bcd'"), ("'Zz!', 1", "'Aa!'")],
        [("'', 5", "''"), ("'Hello, World', 13", "'Uryyb, Jbeyq'"), ("'abc', -1", "'zab'"), ("'xyz', 52", "'xyz'")],
    ),
    _p(
        "def digit_sum(n: int) -> int",
        "The sum of the decimal digits of the integer n (ignore the sign).",
        "def digit_sum(n):\n    return sum(int(d) for d in str(abs(n)))",
        [("123", "6"), ("-45", "9")],
        [("0", "0"), ("99999", "45"), ("10 ** 20", "1")],
    ),
    _p(
        "def chunk(items: list, size: int) -> list",
        "Split items into consecutive chunks of length size (the last may be shorter).",
        "def chunk(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size)]",
        [("[1, 2, 3, 4, 5], 2", "[[1, 2], [3, 4], [5]]"), ("[], 3", "[]")],
        [("[1, 2, 3], 3", "[[1, 2, 3]]"), ("[1, 2, 3], 5", "[[1, 2, 3]]"), ("['a', 'b'], 1", "[['a'], ['b']]")],
    ),
    _p(
        "def rotate_list(items: list, k: int) -> list",
        "Rotate items right by k places (k may exceed the length or be negative, which rotates left).",
        "def rotate_list(items, k):\n    if not items:\n        return []\n    k %= len(items)\n    return items[-k:] + items[:-k] if k else list(items)",
        [("[1, 2, 3, 4], 1", "[4, 1, 2, 3]"), ("[1, 2, 3], -1", "[2, 3, 1]")],
        [("[], 3", "[]"), ("[1, 2, 3], 3", "[1, 2, 3]"), ("[1, 2, 3], 7", "[3, 1, 2]")],
    ),
    _p(
        "def longest_common_prefix(words: list) -> str",
        "The longest prefix shared by all words ('' for no words).",
        "def longest_common_prefix(words):\n    if not words:\n        return ''\n    prefix = words[0]\n    for w in words[1:]:\n        while not w.startswith(prefix):\n            prefix = prefix[:-1]\n    return prefix",
        [("['flower', 'flow', 'flight']", "'fl'"), ("['dog', 'car']", "''")],
        [("[]", "''"), ("['same']", "'same'"), ("['ab', 'abc', 'abd']", "'ab'"), ("['', 'a']", "''")],
    ),
    _p(
        "def two_sum(nums: list, target: int) -> tuple",
        "Indices (i, j) with i < j and nums[i] + nums[j] == target, "
        "the pair with the smallest j, then the smallest i; None if there is none.",
        "def two_sum(nums, target):\n    seen = {}\n    for j, x in enumerate(nums):\n        if target - x in seen:\n            return (seen[target - x], j)\n        seen.setdefault(x, j)\n    return None",
        [("[2, 7, 11, 15], 9", "(0, 1)"), ("[1, 2], 5", "None")],
        [("[3, 3], 6", "(0, 1)"), ("[1, 5, 1, 5], 6", "(0, 1)"), ("[], 0", "None"), ("[0, 4, 3, 0], 0", "(0, 3)")],
    ),
    _p(
        "def max_subarray(nums: list) -> int",
        "The largest sum of a non-empty contiguous slice of nums.",
        "def max_subarray(nums):\n    best = cur = nums[0]\n    for x in nums[1:]:\n        cur = max(x, cur + x)\n        best = max(best, cur)\n    return best",
        [("[-2, 1, -3, 4, -1, 2, 1, -5, 4]", "6"), ("[1]", "1")],
        [("[-3, -1, -2]", "-1"), ("[5, 4, -1, 7, 8]", "23"), ("[0, 0]", "0")],
    ),
    _p(
        "def title_case(s: str) -> str",
        "Capitalise the first letter of each space-separated word and lower-case the rest; keep the spacing as it is.",
        "def title_case(s):\n    return ' '.join(w[:1].upper() + w[1:].lower() for w in s.split(' '))",
        [("'hello wORLD'", "'Hello World'"), ("'a'", "'A'")],
        [("''", "''"), ("'  two  spaces'", "'  Two  Spaces'"), ('"it\'s 3pm"', '"It\'s 3pm"')],
    ),
    _p(
        "def unique_in_order(items: list) -> list",
        "items without its duplicates, keeping first occurrences in order.",
        "def unique_in_order(items):\n    seen, out = set(), []\n    for x in items:\n        if x not in seen:\n            seen.add(x)\n            out.append(x)\n    return out",
        [("[3, 1, 3, 2, 1]", "[3, 1, 2]"), ("[]", "[]")],
        [("['a', 'a']", "['a']"), ("[1, 2, 3]", "[1, 2, 3]"), ("[0, False, 1, True]", "[0, 1]")],
    ),
    _p(
        "def pascal_row(n: int) -> list",
        "Row n of Pascal's triangle (row 0 is [1]).",
        "def pascal_row(n):\n    row = [1]\n    for _ in range(n):\n        row = [a + b for a, b in zip([0] + row, row + [0])]\n    return row",
        [("0", "[1]"), ("4", "[1, 4, 6, 4, 1]")],
        [
            ("1", "[1, 1]"),
            ("6", "[1, 6, 15, 20, 15, 6, 1]"),
            (
                "20",
                "[1, 20, 190, 1140, 4845, 15504, 38760, 77520, 125970, 167960, 184756, 167960, 125970, 77520, 38760, 15504, 4845, 1140, 190, 20, 1]",
            ),
        ],
    ),
    _p(
        "def to_binary(n: int) -> str",
        "The binary digits of the non-negative integer n, without a prefix.",
        "def to_binary(n):\n    return bin(n)[2:]",
        [("5", "'101'"), ("0", "'0'")],
        [("1", "'1'"), ("255", "'11111111'"), ("1024", "'10000000000'")],
    ),
    _p(
        "def count_islands(grid: list) -> int",
        "The number of 4-connected groups of 1s in a grid of 0s and 1s.",
        "def count_islands(grid):\n    seen, count = set(), 0\n    for r in range(len(grid)):\n        for c in range(len(grid[r])):\n            if grid[r][c] == 1 and (r, c) not in seen:\n                count += 1\n                stack = [(r, c)]\n                while stack:\n                    i, j = stack.pop()\n                    if (i, j) in seen or not (0 <= i < len(grid) and 0 <= j < len(grid[i])) or grid[i][j] != 1:\n                        continue\n                    seen.add((i, j))\n                    stack += [(i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)]\n    return count",
        [("[[1, 1, 0], [0, 1, 0], [0, 0, 1]]", "2"), ("[]", "0")],
        [("[[0]]", "0"), ("[[1, 0, 1], [0, 1, 0], [1, 0, 1]]", "5"), ("[[1, 1], [1, 1]]", "1")],
    ),
    _p(
        "def is_anagram(a: str, b: str) -> bool",
        "Whether a and b are anagrams, ignoring case and spaces.",
        "def is_anagram(a, b):\n    norm = lambda s: sorted(s.replace(' ', '').lower())\n    return norm(a) == norm(b)",
        [("'Listen', 'Silent'", "True"), ("'abc', 'abd'", "False")],
        [("'', ''", "True"), ("'Dormitory', 'dirty room'", "True"), ("'aab', 'abb'", "False")],
    ),
    _p(
        "def nth_fibonacci(n: int) -> int",
        "The n-th Fibonacci number, with F(0) = 0 and F(1) = 1 (n up to 1000).",
        "def nth_fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        [("0", "0"), ("10", "55")],
        [
            ("1", "1"),
            ("2", "1"),
            ("90", "2880067194370816120"),
            ("300", "222232244629420445529739893461909967206666939096499764990979600"),
        ],
    ),
    _p(
        "def median(nums: list) -> float",
        "The median of a non-empty list of numbers (the mean of the two middle values for an even length), as a float.",
        "def median(nums):\n    s = sorted(nums)\n    m = len(s) // 2\n    return float(s[m]) if len(s) % 2 else (s[m - 1] + s[m]) / 2",
        [("[3, 1, 2]", "2.0"), ("[4, 1, 3, 2]", "2.5")],
        [("[7]", "7.0"), ("[1, 1, 1, 100]", "1.0"), ("[-5, 5]", "0.0")],
    ),
    _p(
        "def compress_spaces(s: str) -> str",
        "Replace every run of whitespace in s with one space and strip both ends.",
        "def compress_spaces(s):\n    return ' '.join(s.split())",
        [("'  a   b  '", "'a b'"), ("'x'", "'x'")],
        [("''", "''"), ("'a\\t\\nb'", "'a b'"), ("'   '", "''")],
    ),
    _p(
        "def dict_invert(d: dict) -> dict",
        "Invert a dict: map each value to the sorted list of keys that had it.",
        "def dict_invert(d):\n    out = {}\n    for k, v in d.items():\n        out.setdefault(v, []).append(k)\n    return {v: sorted(ks) for v, ks in out.items()}",
        [("{'a': 1, 'b': 2, 'c': 1}", "{1: ['a', 'c'], 2: ['b']}"), ("{}", "{}")],
        [
            ("{'x': 'y'}", "{'y': ['x']}"),
            ("{3: 0, 1: 0, 2: 0}", "{0: [1, 2, 3]}"),
            ("{'p': (1, 2), 'q': (1, 2), 'r': 3}", "{(1, 2): ['p', 'q'], 3: ['r']}"),
        ],
    ),
    _p(
        "def staircase_ways(n: int) -> int",
        "In how many ways can a staircase of n steps be climbed taking 1 or 2 steps at a time (1 way for n = 0).",
        "def staircase_ways(n):\n    a, b = 1, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        [("3", "3"), ("0", "1")],
        [("1", "1"), ("2", "2"), ("10", "89"), ("50", "20365011074")],
    ),
    _p(
        "def parse_kv(s: str) -> dict",
        "Parse 'key=value' pairs separated by ';' into a dict of stripped strings; "
        "skip empty pieces; a later key wins.",
        "def parse_kv(s):\n    out = {}\n    for piece in s.split(';'):\n        if piece.strip():\n            k, _, v = piece.partition('=')\n            out[k.strip()] = v.strip()\n    return out",
        [("'a=1; b = two'", "{'a': '1', 'b': 'two'}"), ("''", "{}")],
        [("'a=1;a=2'", "{'a': '2'}"), ("';;x=;'", "{'x': ''}"), ("'k = v=w'", "{'k': 'v=w'}")],
    ),
    _p(
        "def spiral_order(m: list) -> list",
        "The elements of a rectangular matrix in clockwise spiral order from the top-left.",
        "def spiral_order(m):\n    out = []\n    m = [list(r) for r in m]\n    while m:\n        out += m.pop(0)\n        m = [list(r) for r in zip(*m)][::-1]\n    return out",
        [("[[1, 2, 3], [4, 5, 6], [7, 8, 9]]", "[1, 2, 3, 6, 9, 8, 7, 4, 5]"), ("[]", "[]")],
        [("[[1]]", "[1]"), ("[[1, 2], [3, 4], [5, 6]]", "[1, 2, 4, 6, 5, 3]"), ("[[1, 2, 3, 4]]", "[1, 2, 3, 4]")],
    ),
    _p(
        "def leap_year(year: int) -> bool",
        "Whether year is a leap year in the Gregorian calendar.",
        "def leap_year(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
        [("2024", "True"), ("1900", "False")],
        [("2000", "True"), ("2023", "False"), ("2400", "True"), ("2100", "False")],
    ),
    _p(
        "def harmonic_mean(nums: list) -> float",
        "The harmonic mean of a non-empty list of positive numbers, rounded to 6 decimal places.",
        "def harmonic_mean(nums):\n    return round(len(nums) / sum(1 / x for x in nums), 6)",
        [("[1, 4, 4]", "2.0"), ("[2]", "2.0")],
        [("[1, 2]", "1.333333"), ("[10, 10, 10]", "10.0"), ("[0.5, 1.5]", "0.75")],
    ),
)
