#!/usr/bin/env bash
# Our samplers (src/Pipeline/Search, through bench/SearchProbe) against Debian's python3-optuna (TPESampler and
# RandomSampler, their defaults) on Branin, Hartmann-6 and Hartmann-3 with noise (σ = 0.1, the same draws on both
# sides; the best is the true value of the trial observed best): SEEDS seeds × TRIALS trials each, the median best value
# after 10, 25 and TRIALS trials. Fails (exit 1) when our TPE's median best at TRIALS trials is worse than Optuna's on a
# function. Usage: bench/search.sh [--seeds=20] [--trials=50] [--json]   (--json: only JSON on stdout)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=20 trials=50 json=false
for arg in "$@"; do
  case $arg in
    --seeds=*) seeds=${arg#*=} ;;
    --trials=*) trials=${arg#*=} ;;
    --json) json=true ;;
    *) echo "bench/search.sh: unknown argument '$arg' (--seeds=N, --trials=N, --json)" >&2; exit 2 ;;
  esac
done
[[ $seeds =~ ^[1-9][0-9]*$ ]] || { echo "bench/search.sh: --seeds=$seeds: expected a whole number ≥ 1" >&2; exit 2; }
[[ $trials =~ ^[1-9][0-9]*$ && $trials -ge 25 ]] || { echo "bench/search.sh: --trials=$trials: expected a whole number ≥ 25" >&2; exit 2; }
/usr/bin/python3 -c "import optuna" 2>/dev/null || { echo "bench/search.sh: needs Debian's python3-optuna: sudo apt-get install -y python3-optuna" >&2; exit 2; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
dotnet build bench/SearchProbe -c Release --nologo -v quiet >&2
dotnet bench/SearchProbe/bin/Release/net10.0/linux-x64/SearchProbe.dll --seeds="$seeds" --trials="$trials" >>"$results"
/usr/bin/python3 - "$seeds" "$trials" >>"$results" <<'PY'
import json, math, sys
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
seeds, trials = int(sys.argv[1]), int(sys.argv[2])
M = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15

def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)

def gaussian(seed, trial):  # src/Pipeline/Rng.cs's stream (seed, trial, 7) and Box-Muller, as bench/SearchProbe draws it
    state = mix(mix(mix((seed & 0xFFFFFFFF) + GOLDEN & M) ^ trial) ^ 7)
    draws = []
    for _ in range(2):
        state = (state + GOLDEN) & M
        draws.append((mix(state) >> 11) * (1.0 / (1 << 53)))
    return math.sqrt(-2 * math.log(1 - draws[0])) * math.cos(2 * math.pi * draws[1])

def branin(x):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10

ALPHA = [1.0, 1.2, 3.0, 3.2]
H6A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
H6P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
       [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]
H3A = [[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]]
H3P = [[0.3689, 0.1170, 0.2673], [0.4699, 0.4387, 0.7470], [0.1091, 0.8732, 0.5547], [0.0381, 0.5743, 0.8828]]

def hartmann(a, p):
    return lambda x: -sum(ALPHA[i] * math.exp(-sum(a[i][j] * (x[j] - p[i][j]) ** 2 for j in range(len(x)))) for i in range(4))

functions = {
    "branin": ([(-5, 10), (0, 15)], branin, 0.0),
    "hartmann6": ([(0, 1)] * 6, hartmann(H6A, H6P), 0.0),
    "noisy-hartmann3": ([(0, 1)] * 3, hartmann(H3A, H3P), 0.1),
}
for name, (bounds, f, noise) in functions.items():
    for sampler_name in ("tpe", "random"):
        for seed in range(seeds):
            sampler = optuna.samplers.TPESampler(seed=seed) if sampler_name == "tpe" else optuna.samplers.RandomSampler(seed=seed)
            study = optuna.create_study(sampler=sampler)
            best, best_observed, best_true = [], math.inf, math.inf
            for trial_number in range(trials):
                trial = study.ask()
                x = [trial.suggest_float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)]
                value = f(x)
                observed = value + noise * gaussian(seed, trial_number)
                study.tell(trial, observed)
                if observed < best_observed:
                    best_observed, best_true = observed, value
                best.append(best_true)
            print(json.dumps({"function": name, "sampler": "optuna-" + sampler_name, "seed": seed, "best": best}))
PY

/usr/bin/python3 - "$results" "$trials" "$json" <<'PY'
import json, statistics, sys
path, trials, as_json = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "true"
runs = [json.loads(line) for line in open(path)]
at = [10, 25, trials]
table = {}
for run in runs:
    table.setdefault((run["function"], run["sampler"]), []).append(run["best"])
rows = [{"function": f, "sampler": s, "seeds": len(b), **{f"median_best_{n}": statistics.median(x[n - 1] for x in b) for n in at}}
        for (f, s), b in table.items()]
verdicts = []
for function in dict.fromkeys(r["function"] for r in rows):
    ours = next(r for r in rows if r["function"] == function and r["sampler"] == "ours-tpe")[f"median_best_{trials}"]
    theirs = next(r for r in rows if r["function"] == function and r["sampler"] == "optuna-tpe")[f"median_best_{trials}"]
    verdicts.append({"function": function, "ours_tpe": ours, "optuna_tpe": theirs, "no_worse": ours <= theirs})
if as_json:
    print(json.dumps({"trials": trials, "rows": rows, "verdicts": verdicts}))
else:
    header = f"{'function':<16} {'sampler':<14} " + " ".join(f"{'best@' + str(n):>10}" for n in at)
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['function']:<16} {r['sampler']:<14} " + " ".join(f"{r[f'median_best_{n}']:>10.4f}" for n in at))
    print()
    for v in verdicts:
        print(f"{v['function']}: our TPE {v['ours_tpe']:.4f} vs Optuna's {v['optuna_tpe']:.4f} at {trials} trials: "
              + ("no worse" if v["no_worse"] else "WORSE"))
sys.exit(0 if all(v["no_worse"] for v in verdicts) else 1)
PY
