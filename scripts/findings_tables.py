"""Markdown tables for docs/findings.md from the verdict.json files of one `valley reproduce` run.

usage: python3 scripts/findings_tables.py RESULTS_DIR SECTION... [--cache CACHE]

SECTION is one of: networks timings noise flip special groups bn-init hparams hessian.
Every number comes from RESULTS_DIR (the verdicts and timings.csv the run wrote). The `networks`
table's BN-init column comes from the verdict's model records, or, for runs recorded before
they named it, from the run.json of each model in CACHE (the run's --cache).
"""
import argparse, csv, json, os, sys

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("results", help="the --out folder of a `valley reproduce` run")
ap.add_argument("sections", nargs="+")
ap.add_argument("--cache", help="the run's --cache folder (for the BN init of older records)")
args = ap.parse_args()
root = args.results
def V(n):
    p = os.path.join(root, n, "verdict.json")
    return json.load(open(p)) if os.path.exists(p) else None
f3 = lambda x: f"{x:.3f}".replace("-", "−")
pair = lambda c: f"{f3(c['error_asymmetry'])} / {f3(c['loss_asymmetry'])}"
NETS = ["VGG-BN", "ResNet-20"]

def bn_init_in_cache(run):
    if not args.cache:
        sys.exit(f"the model record of {run} names no BN init: give the run's --cache")
    path = os.path.join(args.cache, os.path.basename(run), "run.json")
    try:
        return json.load(open(path))["config"]["model"]["bn_init"]
    except OSError as e:
        sys.exit(f"cannot read {path} ({e.strerror}): is --cache the run's cache folder?")

def networks():
    models = {}
    for n in ["noise","special","groups","flip","bn-init","hessian","relu"]:
        v = V(n)
        for m in (v or {}).get("models", []): models[m["run"]] = m
    print("| network | BN init | cache folder | test acc. | final train loss | last epoch | conv weights behind BN | SSR(θ0, θf) |")
    print("|---|---|---|---|---|---|---|---|")
    for r, m in sorted(models.items()):
        d = m.get("last_epoch_loss_drop")
        drop = "" if d is None else (f"−{100*d:.1f} %" if d >= 0 else f"+{-100*d:.1f} %")
        init = "–" if m["bn_share"] == 0 else m.get("bn_init") or bn_init_in_cache(r)
        print(f"| {m['arch']}, width {m['width']} | {init} | `{os.path.basename(r)}` | {100*m['test_accuracy']:.2f} % | {m['final_train_loss']:.4f} | {drop} | {100*m['bn_share']:.1f} % | {m['ssr_init_final']:.3f} |")
    print()

def timings():
    t = os.path.join(root, "timings.csv")
    rows = list(csv.DictReader(open(t)))
    print("| finding | minutes |\n|---|---|")
    tot = 0
    for r in rows:
        s = float(r["seconds"]); tot += s
        print(f"| {r['finding']} | {s/60:.1f} |")
    print(f"| **total** | **{tot/60:.1f}** |\n")

def noise():
    v = V("noise")
    for net in NETS:
        n = v["numbers"][net]
        print(f"{net}: asymmetry index error / loss (NS), as sampled → sign-consistent\n")
        print("| noise | s = 0.2 | s = 1 | s = 2 |\n|---|---|---|---|")
        dirs = []
        for c in n["with_bn"]:
            if c["direction"] not in dirs: dirs.append(c["direction"])
        for d in dirs:
            cells = []
            for s in [0.2, 1.0, 2.0]:
                a = [c for c in n["with_bn"] if c["direction"] == d and c["scale"] == s]
                get = lambda sign: next(c for c in a if c["sign"] == sign)
                cells.append(f"{pair(get('as-sampled'))} → {pair(get('consistent'))}")
            print(f"| {d} | " + " | ".join(cells) + " |")
        print()
    n = v["numbers"]["VGG-BN"]["without_bn"]
    print("Without BN (s = 1): as sampled → sign-consistent, and the mean error / loss on each side of the sign-consistent curve (− | +)\n")
    print("| noise | index err / loss | mean error − / + | mean loss − / + |\n|---|---|---|---|")
    for c in n:
        if c["sign"] != "consistent": continue
        s = next(x for x in n if x["direction"] == c["direction"] and x["sign"] == "as-sampled")
        lm = [l for l, x in zip(c["lambdas"], c["loss"]) if l < 0]; lp = [l for l, x in zip(c["lambdas"], c["loss"]) if l > 0]
        mean = lambda xs, neg: sum(x for l, x in zip(c["lambdas"], xs) if (l < 0 if neg else l > 0)) / len(lm if neg else lp)
        print(f"| {c['direction']} | {pair(s)} → {pair(c)} | {mean(c['error'], True):.3f} / {mean(c['error'], False):.3f} | {mean(c['loss'], True):.3f} / {mean(c['loss'], False):.3f} |")
    print()

def flip():
    v = V("flip")
    rs = [0, 2, 4, 6, 8, 10]
    print("| r | " + " | ".join(f"{r/10:g}" for r in rs) + " |")
    print("|---" * (len(rs) + 1) + "|")
    for net in NETS:
        ser = v["numbers"][net]["series"]
        k = len(ser)
        plus = [sum(s["plus"][i] for s in ser) / k for i in rs]
        minus = [sum(s["minus"][i] for s in ser) / k for i in rs]
        print(f"| {net} λ>0 / λ<0 | " + " | ".join(f"{p:.3f} / {m:.3f}" for p, m in zip(plus, minus)) + " |")
    print()

def special():
    v = V("special")
    names = {"init": "ε1 = θ0", "theta": "ε2 = θf", "sign": "ε3 = sign(θf)", "sign-centered": "ε4 = sign(θf − μ)", "sgp": "ε5 = sgp(θf)", "sgp-centered": "ε6 = sgp(θf − μ)"}
    nb = v["numbers"]["VGG-BN"]["no_bn_model"]
    print(f"| direction | VGG11-BN | ResNet-20 | {nb} without BN |\n|---|---|---|---|")
    for d, label in names.items():
        g = lambda net, key: next(c for c in v["numbers"][net][key] if c["direction"] == d)
        print(f"| {label} | {pair(g('VGG-BN','with_bn'))} | {pair(g('ResNet-20','with_bn'))} | {pair(g('VGG-BN','without_bn'))} |")
    s = {net: v["numbers"][net]["ssr_init_final"] for net in NETS}
    print(f"\nSSR(θ0, θf): VGG11-BN {s['VGG-BN']['with_bn']:.3f}, ResNet-20 {s['ResNet-20']['with_bn']:.3f}, {nb} without BN {s['VGG-BN']['without_bn']:.3f}.\n")

def groups():
    v = V("groups")
    print("| group | VGG11-BN consistent | VGG11-BN as sampled | ResNet-20 consistent | ResNet-20 as sampled |\n|---|---|---|---|---|")
    gs = []
    for c in v["numbers"]["VGG-BN"]:
        if c["group"] not in gs: gs.append(c["group"])
    for g in gs:
        cell = lambda net, sign: pair(next(c for c in v["numbers"][net] if c["group"] == g and c["sign"] == sign))
        print(f"| {g} | {cell('VGG-BN','consistent')} | {cell('VGG-BN','as-sampled')} | {cell('ResNet-20','consistent')} | {cell('ResNet-20','as-sampled')} |")
    print()

def bn_init():
    v = V("bn-init")
    for net in NETS:
        n = v["numbers"][net]
        sh = n["bn_weights_positive_share"]
        print(f"{net}: share of BN weights > 0 at convergence: ones {sh['ones']:.3f}, uniform {sh['uniform']:.3f}, gauss {sh['gauss']:.3f}\n")
        scales = sorted({c["scale"] for val in n["valleys"] for c in val["curves"]})
        cols = [(norm, init) for norm in ["ns", "filter"] for init in ["ones", "uniform", "gauss"]]
        print("| scale | " + " | ".join(f"{'NS' if a=='ns' else 'filter NS'}: {b}" for a, b in cols) + " |")
        print("|---" * (len(cols) + 1) + "|")
        for s in scales:
            cells = []
            for norm, init in cols:
                val = [x for x in n["valleys"] if x["bn_init"] == init and norm in x["norm"]]
                cs = [c for x in val for c in x["curves"] if c["scale"] == s]
                cells.append(pair(cs[0]) if cs else "–")
            print(f"| {s:g} | " + " | ".join(cells) + " |")
        print()

def hparams():
    v = V("hparams"); n = v["numbers"]
    tr = {t["setting"]: t for t in n["training"]}
    val = n["valleys"]
    w = lambda x: "never" if x is None or x != x else f"{x:.1f}"
    print("| setting | epochs | test acc. | final train loss | last epoch | as sampled: index err / loss | consistent: index err / loss | as-sampled loss width + / − |\n|---|---|---|---|---|---|---|---|")
    for s, t in tr.items():
        a = next(x for x in val if x["setting"] == s and x["sign"] == "as-sampled")
        c = next(x for x in val if x["setting"] == s and x["sign"] == "consistent")
        d = t["last_epoch_loss_drop"]
        print(f"| {s} | {t['epochs']} | {100*t['test_accuracy']:.2f} % | {t['final_train_loss']:.3f} | {'−' if d >= 0 else '+'}{abs(100*d):.1f} % | {pair(a)} | {pair(c)} | {w(a.get('loss_width_plus'))} / {w(a.get('loss_width_minus'))} |")
    cur = n["batch32_vs_batch2048"]["curve"]
    print("\nInterpolation (1−λ)θ32 + λθ2048, test accuracy: " + ", ".join(f"λ {p['lambda']:g}: {p['accuracy']:.3f}" for p in cur if p["split"] == "test"))
    g = next(x for x in n["batch32_vs_batch2048"]["groups"] if x["group"] in ("ALL", "all"))
    print(f"\nALL: SSR(θ32, θ2048) {g['ssr_ab']:.3f}, SSR(θ32, θ2048 − θ32) {g['ssr_a_diff']:.3f}, SSR(θ2048, θ2048 − θ32) {g['ssr_b_diff']:.3f}\n")

def hessian():
    v = V("hessian")
    curves = v["numbers"]["curves"]
    print("| curve | a | " + " | ".join(["0.2", "0.4", "0.6", "0.8", "1.0"]) + " |\n|---|---|---|---|---|---|---|")
    for c in curves:
        pts = {round(p["lambda"], 3): p for p in c["points"]}
        lab = f"{c['network']}" + (f" {c['group']}" if c.get("group", "ALL") != "ALL" else "")
        for key, name in [("trace", "tr(H) +a / −a"), ("top_eigenvalue", "λmax +a / −a")]:
            cells = [f"{pts[a][key]:.4g} / {pts[-a][key]:.4g}" for a in [0.2, 0.4, 0.6, 0.8, 1.0]]
            print(f"| {lab} | {name} | " + " | ".join(cells) + " |")
        z = pts[0.0]
        print(f"| {lab} | at θf | tr(H) {z['trace']:.4g} ± {z['trace_stderr']:.2g}, λmax {z['top_eigenvalue']:.4g} | | | | |")
    print()

SECTIONS = {"networks": networks, "timings": timings, "noise": noise, "flip": flip,
            "special": special, "groups": groups, "bn-init": bn_init, "hparams": hparams, "hessian": hessian}
for name in args.sections:
    if name not in SECTIONS:
        sys.exit(f"unknown section `{name}` (expected one of: {', '.join(SECTIONS)})")
    if name not in ("timings", "networks") and V(name) is None:
        sys.exit(f"{root}/{name}/verdict.json is missing: run `valley reproduce {name}` into {root} first")
    SECTIONS[name]()
