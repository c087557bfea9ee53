"""The run folder's report: report.md plus PNG plots, from whatever the verbs have written so far
(sweep.json, fit.json, proposal.json, validation.json). Every verb rewrites it at its end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

BASELINES = ("natural", "uniform", "temperature")


def _read(run_dir: Path, name: str) -> dict | None:
    path = run_dir / name
    return json.loads(path.read_text()) if path.is_file() else None


def _num(x, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}g}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
           ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def write_report(run_dir: Path, name: str) -> Path:
    sweep, fit = _read(run_dir, "sweep.json"), _read(run_dir, "fit.json")
    proposal, validation = _read(run_dir, "proposal.json"), _read(run_dir, "validation.json")
    lines = [f"# Mixture report: {name}", "", f"Run folder `{run_dir}`.", ""]
    if sweep:
        lines += _sweep_section(sweep)
    if fit:
        lines += _fit_section(fit)
        _plot_fit(run_dir / "fit.png", fit, validation)
    if proposal:
        lines += _proposal_section(proposal)
        _plot_weights(run_dir / "weights.png", proposal)
    if validation:
        lines += _validation_section(validation)
        _plot_losses(run_dir / "losses.png", validation)
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _sweep_section(sweep: dict) -> list[str]:
    cost, proxy, target = sweep["cost"], sweep["proxy"], sweep["target"]
    return ["## Sweep", "",
            f"{sweep['finished']} of {sweep['proxies']} proxies finished: model {proxy['model']}, "
            f"{proxy['tokens']:,} tokens each, sequence length {proxy['seq_len']}.", "",
            f"Cost: {_num(cost['spent_flops'], 3)} FLOPs spent = {cost['spent_percent_of_target']:.2f}% of the "
            f"target run's {_num(cost['target_flops'], 3)} FLOPs ({target['tokens']:,} tokens of model "
            f"{target['model']}); the whole sweep as planned: {cost['percent_of_target']:.2f}%. FLOPs count "
            "embedding and output layers and attention.", "",
            *_table(["domain", "train tokens", "prior", "min weight", "max weight"],
                    [[d, f"{t:,.0f}", f"{p:.4f}", f"{lo:.4f}", f"{hi:.4f}"] for d, t, p, lo, hi in
                     zip(sweep["domains"], sweep["tokens"], sweep["prior"], sweep["lower"], sweep["upper"])]), ""]


def _fit_section(fit: dict) -> list[str]:
    objective = " + ".join(f"{c:g} x {m}" for m, c in fit["objective"].items())
    rows = []
    for law, result in fit["laws"].items():
        s = result["objective"]
        chosen = " (used by propose)" if law == fit["law"] else ""
        rows.append([law + chosen, "objective", _num(s["spearman"], 3), _num(s["pearson"], 3), _num(s["mae"]), s["n"]])
        if len(result["metrics"]) > 1:
            rows += [[law, m, _num(v["spearman"], 3), _num(v["pearson"], 3), _num(v["mae"]), v["n"]]
                     for m, v in result["metrics"].items()]
    return ["## Fit", "", f"Objective: {objective}. {fit['folds']}-fold cross-validation over {fit['runs']} runs "
            "(each run predicted by the law fit without its fold).", "",
            *_table(["law", "metric", "Spearman", "Pearson", "MAE", "runs"], rows), "",
            "![predicted vs actual](fit.png)", ""]


def _proposal_section(p: dict) -> list[str]:
    epochs = {row["domain"]: row for row in p["epochs"]} if p["epochs"] else {}
    header = ["domain", "proposed", *BASELINES] + (["epochs at target", "max epochs"] if epochs else [])
    rows = []
    for d, w in p["weights"].items():
        row = [d, f"{w:.4f}", *(f"{p['baselines'][b]['weights'][d]:.4f}" for b in BASELINES)]
        if epochs:
            row += [f"{epochs[d]['epochs']:.2f}", f"{epochs[d]['max_epochs']:g}"]
        rows.append(row)
    best = p["best_run"]
    predicted = ", ".join(f"{b} {p['baselines'][b]['predicted_objective']:.4f}" for b in BASELINES)
    moved = [f"{b} (by {p['baselines'][b]['moved_by_caps']:.3f})" for b in BASELINES
             if p["baselines"][b]["moved_by_caps"] > 1e-9]
    moved_note = (f" Baselines that broke a cap are moved onto the caps (closest mixture that keeps them, "
                  f"L1 distance): {', '.join(moved)}." if moved else "")
    return ["## Proposal", "",
            f"By the {p['law']} law ({p['method']}): predicted objective {p['predicted_objective']:.4f}; "
            f"predicted for the baselines: {predicted}. Best swarm run: #{best['index']} at {best['objective']:.4f} "
            f"(predicted {best['predicted_objective']:.4f}).{moved_note}", "",
            *_table(header, rows), "", "![weights](weights.png)", ""]


def _verdict(baseline: str, gap: dict) -> str:
    """One baseline's comparison: the margin, its combined standard error, and whether it exceeds it."""
    difference, se = gap["difference"], gap["se"]
    if difference >= 0:
        return f"loses to {baseline} by {difference:.4f} ± {_num(se, 2)}"
    beyond = "beyond" if se < -difference else "within"
    return (f"beats {baseline} by {-difference:.4f} ± {_num(se, 2)} ({beyond} the combined standard error; "
            f"paired over seeds ± {_num(gap['paired_se'], 2)})")


def _validation_section(v: dict) -> list[str]:
    s, gaps = v["scores"], v["proposed_minus_baseline"]
    robust = all(g["difference"] < 0 and g["se"] < -g["difference"] for g in gaps.values())
    verdict = ("beats every baseline by more than the combined standard error" if robust else
               "beats every baseline, not all beyond the combined standard error"
               if all(g["difference"] < 0 for g in gaps.values()) else "does not beat every baseline")
    return ["## Validation", "",
            f"{len(v['runs'])} held-out mixtures at the sweep's budget (proxy {v['proxy']['model']}, "
            f"{v['proxy']['tokens']:,} tokens), each trained with {v['seeds']} seeds (data order and "
            f"initialisation); actual = mean over seeds ± standard error. Predicted vs actual objective: "
            f"Spearman {_num(s['spearman'], 3)}, Pearson {_num(s['pearson'], 3)}, MAE {_num(s['mae'])}.", "",
            f"The proposal {verdict}: it " + "; ".join(_verdict(b, g) for b, g in gaps.items()) + ".", "",
            *_table(["run", "predicted", "actual", "s.e."],
                    [[r["run"], f"{r['predicted']:.4f}", f"{r['actual']:.4f}", _num(r["se"], 2)] for r in v["runs"]]),
            "", "![per-domain losses](losses.png)", ""]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_fit(path: Path, fit: dict, validation: dict | None) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for law, result in fit["laws"].items():
        pairs = np.array([(p, a) for p, a in zip(result["predicted"], result["actual"])
                          if p is not None and a is not None])
        if len(pairs):
            ax.scatter(pairs[:, 0], pairs[:, 1], s=14, alpha=0.7,
                       label=f"{law}, k-fold (Spearman {_num(result['objective']['spearman'], 3)})")
    if validation:
        runs = validation["runs"]
        ax.scatter([r["predicted"] for r in runs], [r["actual"] for r in runs], marker="*", s=90, color="black",
                   label=f"held out (Spearman {_num(validation['scores']['spearman'], 3)})")
    lo, hi = ax.get_xlim()
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("predicted objective")
    ax.set_ylabel("actual objective")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _bars(path: Path, groups: dict[str, list[float]], labels: list[str], ylabel: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) + 2), 4.5))
    width = 0.8 / len(groups)
    for i, (name, values) in enumerate(groups.items()):
        ax.bar(np.arange(len(labels)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_weights(path: Path, p: dict) -> None:
    domains = list(p["weights"])
    groups = {"proposed": [p["weights"][d] for d in domains]}
    groups.update({b: [p["baselines"][b]["weights"][d] for d in domains] for b in BASELINES})
    _bars(path, groups, domains, "weight")


def _plot_losses(path: Path, v: dict) -> None:
    runs = {r["run"]: r for r in v["runs"] if r["run"] in ("proposed", *BASELINES)}
    domains = list(runs["proposed"]["loss"])
    _bars(path, {name: [r["loss"][d] for d in domains] for name, r in runs.items()}, domains,
          "validation loss (nats/token)")
