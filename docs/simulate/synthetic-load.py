#!/usr/bin/env python3
"""Synthetic load traces (requests per second, one integer a line, gzip)
for checking the horizontal policies on shapes the shared Twitter trace
does not have. docs/simulate.md ("Load shapes beyond the shared trace")
reports the scores. Deterministic: fixed seeds.

    python3 docs/simulate/synthetic-load.py OUTDIR
    tailor simulate --kind load --trace OUTDIR/diurnal.txt.gz
"""
import gzip, math, os, random, sys

out = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(out, exist_ok=True)


def write(name, n, f):
    with gzip.open(os.path.join(out, name), "wt") as o:
        for t in range(n):
            o.write("%d\n" % max(0, int(round(f(t)))))


def poisson(lam):
    if lam > 30:
        return max(0, int(round(random.gauss(lam, math.sqrt(lam)))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= random.random()
        if p < limit:
            return k
        k += 1


WEEK, DAYS3 = 7 * 86400, 3 * 86400

# diurnal, steps, sparse: one random stream (seed 7), in this order.
random.seed(7)
st = {"noise": 0.0, "until": 0, "mult": 1.0}


def diurnal(t):
    # 1000 rps ± 60 % over the day, times a slow multiplicative wander
    # (AR(1), 0.995 a second: ~10 % over a few minutes) and ±5 % a second.
    st["noise"] = 0.995 * st["noise"] + random.gauss(0, 0.01)
    return 1000 * (1 + 0.6 * math.sin(2 * math.pi * t / 86400)) * math.exp(st["noise"]) * random.uniform(0.95, 1.05)


def steps(t):
    # 400 rps, and plateaus of 2–4 × for 5–60 min about every 2 h.
    if t >= st["until"]:
        if st["mult"] != 1.0 or random.random() < 0.5:
            st["mult"], st["until"] = 1.0, t + int(random.expovariate(1 / 3600))
        else:
            st["mult"], st["until"] = random.uniform(2, 4), t + random.randint(300, 3600)
    return 400 * st["mult"] * random.uniform(0.9, 1.1)


def sparse(t):
    # A low rate: Poisson around 20 rps ± 50 % over the day.
    return poisson(20 * (1 + 0.5 * math.sin(2 * math.pi * t / 86400)))


write("diurnal.txt.gz", WEEK, diurnal)
write("steps.txt.gz", WEEK, steps)
write("sparse.txt.gz", WEEK, sparse)

# d0, d3, d10fast, d10slow: 1000 rps ± 60 % over the day, Poisson, times
# an AR(1) wander of the given size and memory (seed 11 each).
for name, sd, phi in [("d0", 0.0, 0.995), ("d3", 0.03, 0.995), ("d10fast", 0.10, 0.95), ("d10slow", 0.10, 0.9995)]:
    random.seed(11)
    eps, st["noise"] = sd * math.sqrt(1 - phi * phi), 0.0

    def f(t):
        st["noise"] = phi * st["noise"] + random.gauss(0, eps)
        lam = 1000 * (1 + 0.6 * math.sin(2 * math.pi * t / 86400)) * math.exp(st["noise"])
        return random.gauss(lam, math.sqrt(lam))

    write(name + ".txt.gz", DAYS3, f)

# nasa: a small web server's shape: 2 rps ± 70 % over the day, Poisson,
# and crawler bursts of 6 × for 5–120 s about every 30 min (seed 5).
random.seed(5)
st["burst"] = 0


def nasa(t):
    lam = 2 * (1 + 0.7 * math.sin(2 * math.pi * t / 86400))
    if st["burst"] > 0:
        st["burst"] -= 1
        lam *= 6
    elif random.random() < 1 / 1800:
        st["burst"] = random.randint(5, 120)
    return poisson(lam)


write("nasa.txt.gz", WEEK, nasa)
