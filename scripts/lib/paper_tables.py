#!/usr/bin/python3
"""Write docs/paper-tables.md from the rows of scripts/paper.sh (its table on stdin).

Each row directory holds model.spcnn.log.csv (spcnn train's log), cpu-seconds.txt (wall, user
and system seconds of each training run) and score.json (spcnn score --json); a row missing
from the run directory (--dir) is read from the kept results (--results: the same three files,
committed, so that a machine's run directory may be lost). Rows that are not finished show as
such. Standard library only.
"""
import argparse
import json
import os
import sys

# The paper's figures that shared/DESIGN.md records (MNIST, test split); the per-row numbers
# of its other rows are not in our reference, so those cells stay empty.
PAPER = {
    "p8": {"bpd": "≤ 1.67", "conf28": "95.1", "conf56": "94.1", "recon28": "96.2",
           "recon56": "95.3", "msssim28": "0.18 ± 0.27"},
    "base": {"bpd_image": "0.88", "conf28": "95.6"},
}

DESCRIPTION = {
    "p8": "Spatial PixelCNN: 8×8 windows, coordinates, VAE",
    "base": "PixelCNN++ baseline: whole 28×28 images, no coordinates, no VAE",
    "p8-nc": "8×8, VAE, no coordinates",
    "p8-nv": "8×8, coordinates, no VAE",
    "p8-none": "8×8, neither (a plain PixelCNN++ on patches)",
    "large": "8×8, coordinates, VAE, large network (F 140, R 5), batch 32",
}


def read_rows(text):
    rows = []
    for line in text.splitlines():
        f = line.split()
        if len(f) != 8:
            continue
        rows.append({"name": f[0], "tables": f[1].split(","), "patch": int(f[2]),
                     "coords": f[3] == "1", "vae": f[4] == "1", "net": f[5],
                     "batch": int(f[6]), "sizes": f[7].split(",")})
    return rows


def load(row, top, kept, budget):
    d = os.path.join(top, row["name"])
    if not os.path.exists(os.path.join(d, "score.json")) and kept:
        k = os.path.join(kept, row["name"])
        if os.path.exists(os.path.join(k, "score.json")):
            d = k
    row["minutes"] = row["step"] = row["valid_bpd"] = None
    log = os.path.join(d, "model.spcnn.log.csv")
    if os.path.exists(log):
        with open(log) as f:
            lines = [l.strip().split(",") for l in f.readlines()[1:] if l.strip()]
        if lines:
            row["minutes"] = float(lines[-1][0])
            row["step"] = int(lines[-1][1])
            # The last evaluation's figure: a run stopped between evaluations ends its log
            # with a line of nan (it only carries the clock).
            for line in reversed(lines):
                try:
                    v = float(line[4])
                except (ValueError, IndexError):
                    continue
                if v == v:
                    row["valid_bpd"] = v
                    break
    wall = cpu = 0.0
    times = os.path.join(d, "cpu-seconds.txt")
    if os.path.exists(times):
        with open(times) as f:
            for line in f:
                t = line.split()
                if len(t) == 3:
                    wall += float(t[0])
                    cpu += float(t[1]) + float(t[2])
    row["cpu_share"] = cpu / wall if wall > 0 else None
    row["cpu_wall"] = wall
    row["trained"] = row["minutes"] is not None and row["minutes"] >= budget - 0.05
    row["score"] = None
    score = os.path.join(d, "score.json")
    if os.path.exists(score):
        with open(score) as f:
            s = json.load(f)
        row["score"] = {r["name"]: r for r in s["rows"]}
        row["real"] = s["rows"][0]


def cell(row, size, key, fmt):
    if not row["score"]:
        return ""
    r = row["score"].get(f"{size}x{size}")
    if r is None or r.get(key) is None:
        return ""
    return fmt.format(r[key])


def conf(row, size):
    if not row["score"]:
        return ""
    r = row["score"].get(f"{size}x{size}")
    if r is None or r.get("confidence_mean") is None:
        return ""
    return f"{r['confidence_mean']:.1f} ± {r['confidence_std']:.1f}"


def value(row, size, key):
    if not row["score"]:
        return None
    r = row["score"].get(f"{size}x{size}")
    return None if r is None else r.get(key)


HEADER = ("| row | steps | minutes (CPU share) | bits/dim patches | bits/dim image | "
          "conf. 28 | recon. 28 | MS-SSIM 28 | conf. 56 | recon. 56 |\n"
          "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- | --- | ---: |\n")


def line(row, label):
    if row["minutes"] is None:
        return f"| {label} | not trained yet | | | | | | | | |\n"
    share = f" ({100 * row['cpu_share']:.0f} %)" if row["cpu_share"] else ""
    if row["cpu_share"] and row["cpu_wall"] < 0.9 * 60 * row["minutes"]:
        # A run stopped by hand leaves no times: the share covers only the runs recorded.
        share = f" ({100 * row['cpu_share']:.0f} % of the last {row['cpu_wall'] / 60:.0f})"
    state = "" if row["trained"] else " (unfinished)"
    return (f"| {label} | {row['step']} | {row['minutes']:.0f}{share}{state} | "
            f"{cell(row, 28, 'bpd_patches', '{:.4f}')} | {cell(row, 28, 'bpd_image', '{:.4f}')} | "
            f"{conf(row, 28)} | {cell(row, 28, 'recon_accuracy', '{:.1f}')} | "
            f"{cell(row, 28, 'msssim_mean', '{:.3f}')} | {conf(row, 56)} | "
            f"{cell(row, 56, 'recon_accuracy', '{:.1f}')} |\n")


def paper_line(name, label):
    p = PAPER.get(name)
    if not p:
        return ""
    g = lambda k: f"*{p[k]}*" if k in p else ""
    return (f"| *paper: {label}* | | | {g('bpd')} | {g('bpd_image')} | {g('conf28')} | "
            f"{g('recon28')} | {g('msssim28')} | {g('conf56')} | {g('recon56')} |\n")


def ordering(rows, a, b, key, size, lower_better, claim, tolerance=0.0):
    """One of the paper's conclusions read off two rows: agrees (a better than b, or within
    tolerance of it when the claim is "as good as"), disagrees, or not yet known."""
    ra, rb = rows.get(a), rows.get(b)
    va = value(ra, size, key) if ra else None
    vb = value(rb, size, key) if rb else None
    what = {"bpd_patches": "bits/dim (patches)", "bpd_image": "bits/dim (image)",
            "confidence_mean": f"confidence at {size}", "recon_accuracy":
            f"reconstruction accuracy at {size}"}[key]
    if va is None or vb is None:
        return f"- {claim} ({what}): not measured yet ({a} against {b}).\n"
    better = va < vb + tolerance if lower_better else va > vb - tolerance
    verdict = "**agrees**" if better else "**disagrees**"
    # Rows that had unequal shares of their CPU had unequal budgets: say so beside the verdict.
    sa, sb = ra.get("cpu_share"), rb.get("cpu_share")
    caveat = ""
    if sa and sb and abs(sa - sb) >= 0.1:
        caveat = (f" Unequal budgets: {a} had {100 * sa:.0f} % of its core, {b} "
                  f"{100 * sb:.0f} % ({ra['step']} against {rb['step']} steps).")
    return f"- {claim} ({what}): {verdict}, {a} {va:.4g} against {b} {vb:.4g}.{caveat}\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--results", default="")
    ap.add_argument("--budget", type=float, required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rows = read_rows(sys.stdin.read())
    for r in rows:
        load(r, a.dir, a.results, a.budget)
    by = {r["name"]: r for r in rows}
    done = sum(1 for r in rows if r["trained"] and r["score"])

    out = []
    w = out.append
    w("# The paper's tables, reproduced\n\n")
    w("Written by `scripts/paper.sh` (do not edit by hand: rerun it) from each row's training "
      "log and score, kept in `docs/paper-results/ROW/`. "
      f"{done} of {len(rows)} rows are trained and scored.\n\n")
    w(f"Every row trains for the same budget, **{a.budget:g} minutes of wall time** on one core "
      "of this machine (evaluations included; `--threads` per row as given to paper.sh), on the "
      "55 000 training digits of the standard MNIST split, from the `paper-small` preset "
      "(F 25, R 2, batch 128, dropout 0.5) unless the row says otherwise. The CPU share is the "
      "process's CPU time over its wall time: below about 100 % per thread the row shared its "
      "core and had less than its budget (\"of the last M\": only the last M minutes' times "
      "were recorded, an earlier run having been stopped by hand). "
      "Scores: `spcnn score --split test --prior standard` "
      "(z ~ N(0, I), the paper's protocol), the test split, 200 samples per size, the first 200 "
      "test digits reconstructed, bits/dim over 200 test digits (100 each for windows of 16 "
      "and more); confidence and reconstruction accuracy by the LeNet-5 of "
      "`models/lenet-mnist.spcls`. Our runs are far shorter than the paper's (trained to "
      "convergence on 8 GPUs), so compare orderings, not levels.\n\n")
    w("The paper's own numbers are in italics where shared/DESIGN.md records them (its headline "
      "figures); the other rows' numbers of the paper are not in our reference, so their cells "
      "are empty.\n\n")
    real = next((r["real"] for r in rows if r["score"]), None)
    if real:
        w(f"Real test digits under the same measures: confidence {real['confidence_mean']:.1f} ± "
          f"{real['confidence_std']:.1f}, classifier accuracy {real['recon_accuracy']:.1f} %, "
          f"MS-SSIM {real['msssim_mean']:.3f} ± {real['msssim_std']:.3f} "
          "(paper: 0.16 ± 0.27).\n\n")

    w("## Table 1: the window (patch) size, with and without coordinates\n\n")
    w("All with the VAE. A 28×28 window is the whole image.\n\n" + HEADER)
    for p in (28, 20, 16, 12, 8, 4):
        for nc in ("", "-nc"):
            name = f"p{p}{nc}"
            if name in by:
                label = f"{p}×{p}, {'no coordinates' if nc else 'coordinates'}"
                w(line(by[name], label))
                w(paper_line(name, label))
    w("\n## Table 2: what the conditioning brings (8×8 windows)\n\n" + HEADER)
    for name in ("p8", "p8-nc", "p8-nv", "p8-none"):
        if name in by:
            w(line(by[name], DESCRIPTION[name]))
            w(paper_line(name, DESCRIPTION[name]))
    w("\n## Table 3: against the PixelCNN++ baseline, and the large network\n\n")
    w("The large network costs about 60 times the small one per window; within the same "
      "minutes it takes far fewer steps (batch 32 so that it takes some), so its row measures "
      "what a CPU budget buys, not what the architecture can reach. Its sampling costs as "
      "much more, so it is scored at 28×28 only, on 50 samples, 50 reconstructions and 50 "
      "test digits' bits/dim.\n\n" + HEADER)
    for name in ("base", "p8", "large"):
        if name in by:
            w(line(by[name], DESCRIPTION[name]))
            w(paper_line(name, DESCRIPTION[name]))

    w("\n## The paper's conclusions, read off our rows\n\n")
    w("Computed from the tables above at each run of paper.sh; a disagreement after budgets "
      "this short may be the budget's, not the method's.\n\n")
    w(ordering(by, "p8", "p8-nc", "bpd_patches", 28, True, "Coordinates help (8×8)"))
    w(ordering(by, "p8", "p8-nc", "confidence_mean", 28, False, "Coordinates help (8×8)"))
    w(ordering(by, "p8", "p8-nv", "bpd_patches", 28, True, "The VAE helps (8×8)"))
    w(ordering(by, "p8", "p8-nv", "confidence_mean", 28, False, "The VAE helps (8×8)"))
    w(ordering(by, "p8", "p8-nv", "confidence_mean", 56, False, "The VAE helps upscaling"))
    for p in (4, 12, 16, 20, 28):
        for key, lower in (("bpd_patches", True), ("confidence_mean", False)):
            w(ordering(by, f"p{p}", f"p{p}-nc", key, 28, lower,
                       f"Coordinates help with {p}×{p} windows (Table 1)"))
    w(ordering(by, "p8", "p16", "confidence_mean", 28, False,
               "8×8 windows beat 16×16 at the same image size"))
    w(ordering(by, "p8-nv", "p8-none", "bpd_patches", 28, True,
               "Coordinates help without the VAE"))
    w(ordering(by, "p8", "base", "confidence_mean", 28, False,
               "Spatial PixelCNN's samples as confident as the baseline's, within 1 point "
               "(the paper: 95.1 against 95.6)", tolerance=1.0))

    # A reading written by hand (item 6 of the issue), kept beside the results so that a rerun
    # keeps it: it says which runs it read, since the tables above may have changed since.
    reading = os.path.join(a.results, "READING.md") if a.results else ""
    if reading and os.path.exists(reading):
        with open(reading) as f:
            w("\n## Reading the tables (written by hand)\n\n" + f.read().strip() + "\n")

    figs = [("samples-28.png", "64 samples at 28×28 from the p8 row, z ~ N(0, I)"),
            ("samples-56.png", "16 samples at 56×56"),
            ("reconstruct.png", "test digits, the VAE's decoding, and reconstructions at 28, "
             "56 and 224"),
            ("upscale-560.png", "a test digit upscaled to 560×560"),
            ("upscale-1400.png", "the same digit at 1400×1400")]
    rel = os.path.relpath(a.images, os.path.dirname(os.path.abspath(a.out)) or ".")
    present = [(f, t) for f, t in figs if os.path.exists(os.path.join(a.images, f))]
    w("\n## Figures\n\n")
    if not present:
        w("Not made yet (they need the p8 row).\n")
    for f, t in present:
        w(f"- {t}: [{f}]({rel}/{f})\n")

    w("\n## The rows' training\n\n| row | tables | window | coordinates | VAE | network | "
      "batch | steps | minutes | last validation bits/dim (patches) |\n"
      "| --- | --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: |\n")
    for r in rows:
        trained = r["minutes"] is not None
        w(f"| {r['name']} | {', '.join(r['tables'])} | {r['patch']} | "
          f"{'yes' if r['coords'] else 'no'} | {'yes' if r['vae'] else 'no'} | {r['net']} | "
          f"{r['batch']} | {r['step'] if trained else '—'} | "
          f"{format(r['minutes'], '.1f') if trained else '—'} | "
          f"{format(r['valid_bpd'], '.4f') if r['valid_bpd'] is not None else '—'} |\n")

    tmp = a.out + ".part"
    with open(tmp, "w") as f:
        f.write("".join(out))
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
