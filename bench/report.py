"""The figures of bench.load, each with its target (issue 8)."""

from __future__ import annotations

import statistics
from typing import Any

BOT, BARE, NOLIM = "bot", "bare+limiter", "bare"


def _med(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def _ok(met: bool) -> str:
    return "met" if met else "NOT MET"


def _methods(counts: dict[str, float]) -> str:
    return ", ".join(f"{m} {v:g}" for m, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def render(out: dict[str, Any]) -> str:
    r = out["rounds"]
    cpu = {name: _med(r[name], "cpu_ms") for name in r}
    lines = [
        f"bench.load: {out['users']} people at once, {len(r[BOT])} rounds per bot (bot, bare+limiter, bare "
        f"alternating), tree {out['tree']}; medians over the rounds; wall {out.get('wall_s', 0):.0f} s",
        "",
        f"{'':28}{'bot':>10}{'bare+lim':>10}{'bare':>10}",
    ]
    for label, key, fmt in (("CPU per update (ms)", "cpu_ms", "{:.2f}"),
                            ("  of it the main process", "cpu_main_ms", "{:.2f}"),
                            ("p50 first answer (s)", "p50", "{:.2f}"),
                            ("p99 first answer (s)", "p99", "{:.2f}"), ("Bot API calls / drop-off", "calls", "{:.2f}"),
                            ("sessions completed", "done", "{:.0%}")):  # fmt: skip
        lines.append(f"{label:28}" + "".join(f"{fmt.format(_med(r[n], key)):>10}" for n in (BOT, BARE, NOLIM)))
    rss = out["rss_start"]
    lines.append(
        f"{'RSS after start (MB)':28}" + "".join(f"{rss.get(n, float('nan')):>10.0f}" for n in (BOT, BARE, NOLIM))
    )
    if "rss_end" in out:
        end = out["rss_end"]
        lines.append(
            f"{'RSS after the load (MB)':28}"
            + "".join(f"{end.get(n, float('nan')):>10.0f}" for n in (BOT, BARE, NOLIM))
            + f"   (bot with children: {end.get(BOT + ' (with workers)', float('nan')):.0f})"
        )
    per_round = " ".join(f"{x['cpu_ms'] / y['cpu_ms']:.2f}" for x, y in zip(r[BOT], r[BARE], strict=False))
    ratio, ratio_nolim = cpu[BOT] / cpu[BARE], cpu[BOT] / cpu[NOLIM]
    main = _med(r[BOT], "cpu_main_ms")
    calls = _med(r[BOT], "calls")
    lines += [
        "",
        "target                                          figure            target    ",
        f"1. CPU/update vs bare PTB + same limiter        {ratio:5.2f}x           <= 1.5x   {_ok(ratio <= 1.5)}"
        f"   (per round: {per_round})",
        f"   CPU/update vs bare PTB without limiter       {ratio_nolim:5.2f}x           (report)",
        f"   main process only (no children) vs bare+lim  {main / cpu[BARE]:5.2f}x           (report)  "
        f"child processes {cpu[BOT] - main:.2f} ms/update",
        f"2. Bot API calls per drop-off                   {calls:5.2f}            <= 10     {_ok(calls <= 10)}",
    ]
    flows = out.get("flows", {})
    for flow in ("handover", "pickup"):
        if flow in flows:
            counts = flows[flow]
            lines.append(f"   {flow + ' calls':44} {sum(counts.values()):5d}            (report)  {_methods(counts)}")
    if "error" in flows:
        lines.append(f"   handover/pickup flow failed: {flows['error']}")
    for label, h in out.get("history", {}).items():
        if "error" in h:
            lines.append(f"5. [{label}] failed: {h['error']}")
            continue
        lines.append(
            f"5. [{label}] start -> first update answered     {h['first_update_s']:5.2f} s          <= 2 s    "
            f"{_ok(h['first_update_s'] <= 2)}"
        )
        lines.append(
            f"   [{label}] RSS then                           {h['rss_mb']:5.0f} MB         <= 150 MB "
            f"{_ok(h['rss_mb'] <= 150)}   (+workers {h['rss_tree_mb']:.0f} MB; seeded in {h['seed_s']:.0f} s)"
        )
    harbor = out["harbor_per_dropoff"]
    detail = _methods({k: round(v, 2) for k, v in harbor.items() if k != "all"})
    lines.append(
        f"6. Harbor calls per drop-off (no watch)         {harbor['all']:5.2f}            <= 6      "
        f"{_ok(harbor['all'] <= 6)}   ({detail})"
    )
    for key, label in (("watch_first", "watch round"), ("watch", "watch round")):
        if key in out:
            open_, n, towers = out[key]
            per = n / max(1, towers)
            lines.append(
                f"   {label}: {open_:3d} open on {towers:2d} towers     {per:5.2f} calls/tower  = 1 "
                f"      {_ok(n <= towers + 1)}   ({n} Harbor calls)"
            )
    lines += ["", "per step, bot (calls per person):"]
    for k, counts in enumerate(out["steps"][BOT]):
        lines.append(f"   {k + 1}. {_methods(counts)}")
    return "\n".join(lines)
