"""Splitting a person's name into the part a mask may show and the part it hides.

A Chinese name shows its surname: ``张伟`` → ``张``, and for the compound
surnames (``欧阳``, ``司马``, ``诸葛``...) both characters, since showing only
``欧`` would suggest a different family and showing ``欧阳娜`` would reveal a
given-name character.  Any other script shows the first letter of each
whitespace-separated part.  Which rule applies is decided by the characters
alone: a name made only of CJK ideographs (and the ``·`` of transliterated
minority names) is Chinese.
"""

from __future__ import annotations

import re
import unicodedata

COMPOUND_SURNAMES = frozenset(
    {
        # The common compound surnames of the Hundred Family Surnames, simplified...
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "司空", "令狐", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门",
        "百里", "呼延", "闻人", "万俟", "澹台", "公冶", "宗政", "濮阳", "淳于", "单于",
        "太叔", "申屠", "钟离", "赫连", "拓跋", "东郭", "闾丘", "鲜于", "乐正", "公良",
        "漆雕", "巫马", "公羊", "段干", "颛孙", "仲孙", "左丘", "梁丘", "第五", "羊舌",
        # ...and the traditional spellings seen on Hong Kong, Macau and Taiwan documents.
        "歐陽", "司馬", "諸葛", "東方", "尉遲", "公孫", "長孫", "軒轅", "獨孤", "南宮",
        "聞人", "鍾離", "鮮于", "顓孫", "閭丘",
    }
)  # fmt: skip

_CJK = (
    "\u3400-\u4dbf"  # extension A
    "\u4e00-\u9fff"  # unified ideographs
    "\uf900-\ufaff"  # compatibility ideographs
    "\U00020000-\U0003134f"  # extensions B-G
)
NAME_DOTS = "·•・"
"""Separators of transliterated names (``买买提·艾力``), in the spellings seen in data."""
_CHINESE_NAME = re.compile(f"[{_CJK}][{_CJK}{NAME_DOTS}]*")


def normalise(name: str) -> str:
    """NFKC with single spaces: the form :func:`vault.identifiers.canonical_name` stores."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


def chinese_form(name: str) -> str | None:
    """The name without white space if it is written in Chinese characters, else ``None``."""
    compact = "".join(normalise(name).split())
    return compact if _CHINESE_NAME.fullmatch(compact) else None


def shown_prefix(name: str) -> str:
    """What a mask shows of a name in :func:`chinese_form`: its surname, if it has a given name.

    A two-character name is a single surname plus a given name even when the
    pair is also a compound surname (``东方`` is Mr. Dong Fang), because a
    compound surname alone is not a name.  A transliterated name (``司马义·艾买提``)
    starts with a given name, so only its first character counts.
    """
    if len(name) < 2:
        return ""
    if any(dot in name for dot in NAME_DOTS):
        return name[:1]
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2]
    return name[:1]
