#!/usr/bin/env bash
# Leave-one-isotope-out outlier test of ml.gammaflow on the measured
# gamma_flow data (issue 7): for each of Am241, Co60, Cs137 and Eu152,
# configs/gammaflow-measured.yaml is run with that isotope removed from the
# library (so its simulated spectra leave the training set and its measured
# spectra become unknown = outliers in the test set).  Each run's
# summary.md has the AUC of both outlier scores and the flag rates; this
# script also pools the four runs (every left-out spectrum a positive,
# every known spectrum of every run a negative) and prints one table.
#
#   bash scripts/gammaflow-outliers.sh [BUILD_DIR] [OUT_DIR] [--set k=v]...
#
# Needs GSPEC_DATA (or ../shared/data) and python3 for the pooled table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
out=${2:-results/gammaflow-outliers}
shift $(( $# >= 2 ? 2 : $# ))
isotopes=(Am241 Co60 Cs137 Eu152)
mkdir -p "$out"
for iso in "${isotopes[@]}"; do
  keep=()
  for o in "${isotopes[@]}"; do
    [ "$o" = "$iso" ] || keep+=("$o")
  done
  list=$(IFS=,; echo "${keep[*]}")
  "$build/gspec" run "$here/configs/gammaflow-measured.yaml" \
    --set "library.nuclides=[$list]" \
    --set "methods=[{id: ml.gammaflow}]" \
    --set name="gammaflow-outliers-$iso" --set outputs.spectra=true \
    "$@" --out "$out/without-$iso" --fresh --quiet > /dev/null 2> "$out/$iso.log"
  echo "without $iso: $out/without-$iso/summary.md"
  # The thresholds ml.gammaflow chose in training (leave one class out on
  # the training set, gamma_flow's criterion).
  grep -o "leave one class out, [a-z/]*: .*weighted optimum" \
    "$out/$iso.log" | sed 's/^/  /' || true
done
command -v python3 > /dev/null || { echo "python3 not found: no pooled table"; exit 0; }
python3 - "$out" "${isotopes[@]}" <<'EOF'
import csv, math, sys
out, isos = sys.argv[1], sys.argv[2:]

def auc(pos, neg):
    # Mann-Whitney by midranks: P(pos > neg) + P(tie) / 2.
    allv = sorted([(v, 1) for v in pos] + [(v, 0) for v in neg])
    rank, i, rsum = 0.0, 0, 0.0
    while i < len(allv):
        j = i
        while j < len(allv) and allv[j][0] == allv[i][0]:
            j += 1
        mid = (i + 1 + j) / 2.0
        rsum += mid * sum(1 for k in range(i, j) if allv[k][1])
        i = j
    n1, n0 = len(pos), len(neg)
    return (rsum - n1 * (n1 + 1) / 2.0) / (n1 * n0)

def num(s):
    v = float(s)
    return 1e300 if (math.isnan(v) or math.isinf(v)) else v

pooled = {}
flags = {"tp": 0, "p": 0, "fp": 0, "n": 0}
print("\n| left out | score | AUC | flagged unknown | flagged known |")
print("|---|---|---|---|---|")
for iso in isos:
    path = "%s/without-%s/predictions/ml.gammaflow.csv" % (out, iso)
    rows = list(csv.DictReader(open(path)))
    # The test set's own labels (predictions carry the predicted ones).
    meta = "%s/without-%s/spectra/measured.meta.csv" % (out, iso)
    truth = [r["labels"] for r in csv.DictReader(open(meta))]
    unk = [iso in t.split("+") for t in truth]
    scores = [c for c in rows[0] if c.startswith("outlier_score")]
    tp = sum(1 for r, u in zip(rows, unk) if u and float(r["outlier"]) > 0.5)
    fp = sum(1 for r, u in zip(rows, unk) if not u and float(r["outlier"]) > 0.5)
    p, n = sum(unk), len(unk) - sum(unk)
    for k, v in (("tp", tp), ("p", p), ("fp", fp), ("n", n)):
        flags[k] += v
    for s in scores:
        pos = [num(r[s]) for r, u in zip(rows, unk) if u]
        neg = [num(r[s]) for r, u in zip(rows, unk) if not u]
        pooled.setdefault(s, ([], []))
        pooled[s][0].extend(pos)
        pooled[s][1].extend(neg)
        print("| %s | %s | %.3f | %d/%d | %d/%d |" % (
            iso, s[14:], auc(pos, neg), tp, p, fp, n))
for s, (pos, neg) in pooled.items():
    print("| pooled | %s | %.3f | %d/%d | %d/%d |" % (
        s[14:], auc(pos, neg), flags["tp"], flags["p"], flags["fp"], flags["n"]))
EOF
