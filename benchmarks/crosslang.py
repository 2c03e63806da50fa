"""Cross-language search benchmark: bilingual known-item queries, translation on and off.

The documents are the shared corpus's pages with reference text (CC-CEDICT-era Chinese web
pages of ``zh/cwced``, Chinese news of ``zh/newspaper4k``, English news of
``en/scrapinghub-aeb`` and ``en/newspaper4k``), padded to ``--n`` documents with
recombined paragraphs of the pages no query is about. Each known-item query below names,
in the other language, what is distinctive about one page; it was written by reading the
page's opening (a person, a place, an event), not by translating a sentence. Chinese to
English queries are run as written (Simplified) and converted to Traditional (OpenCC).
Monolingual known-item queries: the words of an English page's URL slug, and a Chinese
page's own first words.

Prints success@10 and MRR@10 per direction with cross-language search on and off, their
ratios, query latency p50/p95 with translation over without (same index, same run,
interleaved), and the dictionary's load time and memory (a fresh process each).

    python benchmarks/crosslang.py            # 5,000 documents
    python benchmarks/crosslang.py --n 20000
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import opencc

ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)
sys.path.append(str(ROOT / "benchmarks"))

from _corpus import CORPUS  # noqa: E402

from search.analysis import fold  # noqa: E402
from search.embedded import EmbeddedBackend  # noqa: E402
from search.models import IndexDocument  # noqa: E402
from search.query import parse  # noqa: E402
from search.translate import search  # noqa: E402

# English queries for Chinese pages (corpus path, or the first 8 characters of a cwced id).
EN_TO_ZH = {
    "0ef8393b": "Macron Moscow Kiev",
    "274a65d9": "school folk orchestra",
    "6650f72a": "China Democracy Party France Tiananmen",
    "05e98007": "Zhangjiajie Hunan teaching conference",
    "2bac7fb2": "sexless marriage Japan",
    "3832838a": "Wu Zongxian beaten",
    "386d70f8": "Liangshan Xichang",
    "3e1af229": "potato Guyuan Ningxia",
    "455de1c0": "aircraft weight thrust",
    "47f387e6": "hair loss oily scalp",
    "4fa9dfe4": "ASCO chemotherapy",
    "500b350d": "Bayannur CPPCC",
    "59562291": "Hunan cuisine Cantonese cuisine",
    "6820ebe7": "Hyundai joint venture",
    "6dc2d508": "Zhu De Eighth Route Army Taihang",
    "77fa9435": "laid-off workers reemployment",
    "8baa71e3": "Shanghai auto show",
    "91bdf33e": "Luoyang paper cutting",
    "93498c29": "Changhe minivan",
    "9890f458": "green manufacturing list",
    "a6e8b739": "tour guide shopping kickback",
    "aefcf136": "toilet revolution Tibet",
    "b26fbb82": "Jiangsu school reopening epidemic",
    "c268c1b4": "Chen Jianmin fasting Ya'an",
    "c2d9f85c": "Maggie Cheung Cannes",
    "c38e2b2d": "Chen Tianhua",
    "caee0a34": "Cultural Revolution mass participation",
    "c4d032a1": "Taiyuan hospice care",
    "zh/newspaper4k/txt/chinese_article_001.txt": "San Francisco summit cooperation",
    "zh/newspaper4k/txt/chinese_article_002.txt": "drug shortage supply",
}
# Chinese queries for English pages (a scrapinghub id's first 8 characters, or a path).
ZH_TO_EN = {
    "042bb7b5": "谷歌 微软 游戏",
    "04a6711c": "弗吉尼亚 肯塔基 选举",
    "05844573": "洛杉矶 车展 电动车",
    "06ee193d": "大众 电动车 旅行车",
    "076f4f33": "德里 氧气 空气质量",
    "08f79376": "匹兹堡 打架 禁赛",
    "098bb3e9": "迪士尼 故障",
    "14cc2a0c": "木卫二 水蒸气",
    "16c30add": "德里 空气污染",
    "1f765c48": "安德鲁王子 采访",
    "264dc3ae": "布法罗 冰球",
    "291a8bf3": "库克 苹果 企业",
    "2f42ef1d": "银行 创业公司",
    "33fe2471": "阿姆斯特丹 灯光节",
    "34a73285": "尼日利亚 女演员",
    "358cc4a0": "切尔西 守门员",
    "359fee22": "土卫六 甲烷",
    "35b15891": "克利夫兰 乐队 巡演",
    "360c732d": "阿里巴巴 香港 上市",
    "39d5c43b": "贸易协议 关税",
    "3cb22bfa": "奥迪 电动",
    "3cb5e2f4": "日产 轿车",
    "3d8f3404": "奥斯卡 女演员 歌曲",
    "4219d096": "梨 果酱 蜂蜜",
    "51374560": "家得宝 季度",
    "51d066b0": "绑架 女孩 警察",
    "55bb6340": "泰勒 斯威夫特",
    "57d46c9d": "油价 下跌",
    "en/newspaper4k/txt/cnn_article.txt": "冬季风暴 宾夕法尼亚",
    "en/newspaper4k/txt/time_001.txt": "汉森 气候",
    "en/newspaper4k/txt/article_with_br.txt": "阿桑奇 间谍",
}
K = 10
_SLUG = re.compile(r"[a-z]+")


def pages() -> dict[str, tuple[str, str, str]]:
    """Every page with reference text: key -> (language, url, text)."""
    found: dict[str, tuple[str, str, str]] = {}
    for path in sorted((CORPUS / "zh" / "cwced" / "cleaned").glob("*.txt")):
        found[path.stem[:8]] = ("zh", f"https://cwced.example/{path.stem}", path.read_text())
    for folder, language in (("zh", "zh"), ("en", "en")):
        for path in sorted((CORPUS / folder / "newspaper4k" / "txt").glob("*.txt")):
            key = str(path.relative_to(CORPUS))
            found[key] = (language, f"https://newspaper4k.example/{key}", path.read_text())
    truth = json.loads((CORPUS / "en/scrapinghub-aeb/ground-truth.json").read_text())
    for digest, item in sorted(truth.items()):
        found[digest[:8]] = ("en", item["url"], item["articleBody"])
    return found


def document(key: str, language: str, url: str, text: str, seq: int) -> IndexDocument:
    chinese = language == "zh"
    return IndexDocument(
        id=key,
        url=url,
        collection="bench",
        captured=datetime(2024, 1, 1),
        language=language,
        script="Hans" if chinese else "Latn",
        title=text.strip().split("\n", 1)[0][:80],
        text=text,
        text_simplified=fold(text) if chinese else None,
        seq=seq,
    )


def corpus(n: int) -> list[IndexDocument]:
    """The pages, then recombined paragraphs of the pages no query is about, up to ``n``."""
    found = pages()
    docs = [document(key, *value, seq) for seq, (key, value) in enumerate(found.items(), 1)]
    asked = set(EN_TO_ZH) | set(ZH_TO_EN)
    pools: dict[str, list[str]] = {"en": [], "zh": []}
    for key, (language, _, text) in found.items():
        if key not in asked:
            pools[language] += [p for p in text.split("\n") if len(p.strip()) > 40]
    rng = random.Random(0)
    while len(docs) < n:
        language = rng.choice(("en", "zh"))
        text = "\n".join(rng.sample(pools[language], min(6, len(pools[language]))))
        key = f"pad-{len(docs)}"
        docs.append(document(key, language, f"https://pad.example/{key}", text, len(docs) + 1))
    return docs


def monolingual() -> dict[str, str]:
    """Known-item queries in a page's own language: URL slug words, or first Chinese words."""
    found = pages()
    queries = {}
    for key in ZH_TO_EN:
        _, url, text = found[key]
        slug = [part for part in url.split("/") if part][-1].lower()
        words = [word for word in _SLUG.findall(slug) if len(word) > 3][:5]
        queries[key] = " ".join(words) or " ".join(text.split()[:3])
    for key in EN_TO_ZH:
        _, _, text = found[key]
        first = next(run for run in re.findall(r"[\u4e00-\u9fff]{6,}", text))
        queries[key] = f"{first[:2]} {first[2:4]} {first[4:6]}"
    return queries


def evaluate(backend: EmbeddedBackend, queries: dict[str, str], cross: bool) -> tuple[float, float]:
    """success@K and MRR@K of known-item ``queries`` (page key -> query)."""
    hits = reciprocal = 0.0
    for key, query in queries.items():
        result = search(backend, parse(query), cross=cross, limit=K, facets=False)
        ranked = [hit.id for hit in result.hits]
        if key in ranked:
            hits += 1
            reciprocal += 1 / (ranked.index(key) + 1)
    return hits / len(queries), reciprocal / len(queries)


def latencies(backend: EmbeddedBackend, queries: list[str], rounds: int) -> dict[bool, list[float]]:
    """Seconds per query with translation (True) and without, interleaved query by query."""
    found: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for query in queries:
            for cross in (True, False):
                start = time.perf_counter()
                search(backend, parse(query), cross=cross, limit=K)
                found[cross].append(time.perf_counter() - start)
    return found


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


LOAD = """
import resource, sys, time
sys.path.insert(0, {root!r})
import search.translate as t
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
t.dictionary()
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def dictionary_cost(cache: str) -> tuple[float, float]:
    """Seconds and MB (peak RSS growth) of loading the dictionary in a fresh process."""
    env = {"XDG_CACHE_HOME": cache, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", LOAD.format(root=str(ROOT))],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    seconds, kilobytes = out.stdout.split()
    return float(seconds), int(kilobytes) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=5000, help="documents indexed")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds over the queries")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        built = dictionary_cost(cache)  # builds from CC-CEDICT and caches
        cached = dictionary_cost(cache)
    print(f"dictionary: built in {built[0]:.1f} s, +{built[1]:.0f} MB peak RSS;")
    print(f"            loaded from its cache in {cached[0]:.2f} s, +{cached[1]:.0f} MB")
    traditional = opencc.OpenCC("s2t")
    directions = {
        "en -> zh": EN_TO_ZH,
        "zh (Simplified) -> en": ZH_TO_EN,
        "zh (Traditional) -> en": {k: traditional.convert(q) for k, q in ZH_TO_EN.items()},
        "monolingual": monolingual(),
    }
    with tempfile.TemporaryDirectory() as folder:
        backend = EmbeddedBackend(Path(folder) / "index")
        docs = corpus(args.n)
        backend.index(docs)
        backend.commit(checkpoint=len(docs))
        print(f"{len(docs)} documents; success@{K} and MRR@{K}, cross-language on vs off:")
        print(
            f"{'direction':24} {'queries':>7} {'s@10 on':>8} {'s@10 off':>8} "
            f"{'MRR on':>7} {'MRR off':>7}"
        )
        for name, queries in directions.items():
            on = evaluate(backend, queries, True)
            off = evaluate(backend, queries, False)
            print(
                f"{name:24} {len(queries):>7} {on[0]:>8.2f} {off[0]:>8.2f} "
                f"{on[1]:>7.2f} {off[1]:>7.2f}"
            )
        mixed = [q for queries in directions.values() for q in queries.values()]
        timed = {
            "every query": latencies(backend, mixed, args.rounds),
            # Hits either way: what translation costs apart from highlighting new hits.
            "monolingual queries": latencies(
                backend, list(directions["monolingual"].values()), args.rounds
            ),
        }
        backend.close()
    for name, found in timed.items():
        on, off = found[True], found[False]
        print(
            f"latency, {name} ({len(on)} each): p50 {statistics.median(on) * 1000:.1f} ms with "
            f"translation vs {statistics.median(off) * 1000:.1f} ms without "
            f"(x{statistics.median(on) / statistics.median(off):.2f}); "
            f"p95 {p95(on) * 1000:.1f} vs {p95(off) * 1000:.1f} ms (x{p95(on) / p95(off):.2f})"
        )


if __name__ == "__main__":
    main()
